// QEMU 7.2, the peer: the same test guest snapshotted by migration to a file
// (QMP `stop` + `migrate` to `exec:cat > FILE`), then N plain `-incoming
// "exec:cat FILE"` restores at once. Each restore reads the whole stream into
// its own memory; QEMU's copy-on-write clones (x-ignore-shared with a shared
// memory-backend-file) are not measured here (see DESIGN.md).
#include <dirent.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "fork/fork.hpp"
#include "support/qmp.hpp"
#include "support/subjects.hpp"

namespace brood::bench::fork {
namespace {

// QEMU 7.2 migrates at 32 MiB/s unless told otherwise.
constexpr int64_t kUnlimitedBandwidth = int64_t{1} << 40;
constexpr auto kStatusPoll = std::chrono::microseconds(500);

std::vector<std::string> qemu_with_qmp(const Config& config, const std::string& qmp_path) {
    auto command = qemu_command(*config.qemu, VmShape{config.memory_mib, 1});
    command.insert(command.end(), {"-qmp", fmt::format("unix:{},server=on,wait=off", qmp_path)});
    return command;
}

// Whether `pid` has a child that has not exited (QEMU's migration `cat`).
bool has_live_child(pid_t pid) {
    std::string tasks = fmt::format("/proc/{}/task", pid);
    DIR* dir = ::opendir(tasks.c_str());
    if (!dir) return false;
    bool live = false;
    while (dirent* e = ::readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream children(tasks + "/" + e->d_name + "/children");
        for (pid_t child; children >> child && !live;) {
            std::ifstream stat(fmt::format("/proc/{}/stat", child));
            std::string text;
            std::getline(stat, text);
            size_t paren = text.rfind(')');
            live = paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
        }
    }
    ::closedir(dir);
    return live;
}

// Connects QMP, waits for the incoming migration to end (a `cont` sent
// earlier is dropped), resumes, pings; when the guest answered.
Result<Clock::time_point> resume_and_ping(Child& vm, const std::string& qmp_path, Clock::time_point deadline) {
    auto qmp = TRY_CTX(Qmp::connect(qmp_path, deadline), vm.stderr_tail());
    for (;;) {
        auto status = TRY(qmp.execute("query-status"));
        if (status.value("status", "") != "inmigrate") break;
        if (Clock::now() >= deadline) return fail("QEMU: incoming migration did not finish");
        std::this_thread::sleep_for(kStatusPoll);
    }
    TRY(qmp.execute("cont"));
    TRY(qmp.wait_event("RESUME", deadline));
    return TRY(guest_command(vm, "ping", "pong")).at;
}

} // namespace

Result<std::string> qemu_migration_file(const Config& config, const ScratchDir& scratch) {
    std::string qmp_path = scratch / "qemu-source.qmp";
    SpawnOptions options;
    options.stderr_path = scratch / "qemu-source.stderr";
    auto vm = TRY(Child::spawn(qemu_with_qmp(config, qmp_path), options));
    auto deadline = deadline_in(config.timeout);
    TRY(vm.out().wait_for("brood-guest ready", deadline));
    TRY(guest_command(vm, fmt::format("touch {} 1", config.touch_mib), "touched pages=", Millis(120'000)));
    auto qmp = TRY(Qmp::connect(qmp_path, deadline));
    TRY(qmp.execute("migrate-set-parameters", {{"max-bandwidth", kUnlimitedBandwidth}}));
    TRY(qmp.execute("migrate-set-capabilities",
                    {{"capabilities", nlohmann::json::array({{{"capability", "events"}, {"state", true}}})}}));
    std::string file = scratch / "qemu.migration";
    TRY(qmp.execute("stop"));
    TRY(qmp.execute("migrate", {{"uri", fmt::format("exec:cat > {}", file)}}));
    for (;;) {
        auto event = TRY(qmp.wait_event("MIGRATION", deadline));
        std::string status = event["data"].value("status", "");
        if (status == "completed") break;
        if (status == "failed" || status == "cancelled") return fail("QEMU migration " + status);
    }
    while (has_live_child(vm.pid())) {
        if (Clock::now() >= deadline) return fail("QEMU's migration helper did not finish");
        std::this_thread::sleep_for(Millis(1));
    }
    vm.stop(SIGKILL, Millis(0));
    return file;
}

Result<Fanout> qemu_fanout(const std::string& migration_file, unsigned n, unsigned run, const Config& config,
                           const ScratchDir& scratch, std::vector<Child>& vms) {
    vms.clear();
    vms.reserve(n);
    std::vector<std::string> qmp_paths;
    auto t0 = Clock::now();
    for (unsigned i = 0; i < n; ++i) {
        std::string tag = fmt::format("qemu-{}-{}-{}", n, run, i);
        qmp_paths.push_back(scratch / (tag + ".qmp"));
        auto command = qemu_with_qmp(config, qmp_paths.back());
        command.insert(command.end(), {"-S", "-incoming", fmt::format("exec:cat {}", migration_file)});
        SpawnOptions options;
        options.stderr_path = scratch / (tag + ".stderr");
        vms.push_back(TRY(Child::spawn(command, options)));
    }
    Fanout f;
    f.ready_ms.resize(n);
    std::vector<std::optional<Error>> errors(n);
    std::vector<std::thread> threads;
    auto deadline = deadline_in(config.timeout);
    for (unsigned i = 0; i < n; ++i)
        threads.emplace_back([&, i] {
            auto pong = resume_and_ping(vms[i], qmp_paths[i], deadline);
            if (pong) f.ready_ms[i] = ms_between(t0, *pong);
            else errors[i] = pong.error();
        });
    for (auto& t : threads) t.join();
    for (unsigned i = 0; i < n; ++i)
        if (errors[i]) return fail(std::move(*errors[i]).context(fmt::format("QEMU restore {}", i)));
    f.all_ready_ms = *std::max_element(f.ready_ms.begin(), f.ready_ms.end());
    for (auto& vm : vms) f.pids.push_back(vm.pid());
    f.memory_files.push_back(migration_file);
    return f;
}

} // namespace brood::bench::fork
