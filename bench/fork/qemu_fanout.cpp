// QEMU 7.2, the peer, two ways. Plain: the same test guest snapshotted by
// migration to a file (QMP `stop` + `migrate` to `exec:cat > FILE`), then N
// `-incoming "exec:cat FILE"` restores at once, each reading the whole
// stream into its own memory. At its best: copy-on-write clones of a shared
// memory file (support/qemu_template.hpp).
#include <signal.h>

#include <thread>

#include <fmt/format.h>

#include "fork/fork.hpp"
#include "support/qemu_template.hpp"
#include "support/subjects.hpp"

namespace brood::bench::fork {
namespace {

// QEMU 7.2 migrates at 32 MiB/s unless told otherwise.
constexpr int64_t kUnlimitedBandwidth = int64_t{1} << 40;
constexpr auto kStatusPoll = std::chrono::microseconds(500);

std::vector<std::string> qemu_with_qmp(const Config& config, const std::string& qmp_path) {
    return qemu_template::with_qmp(qemu_command(*config.qemu, VmShape{config.memory_mib, 1}), qmp_path);
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
    TRY(qemu_template::wait_migration(qmp, deadline));
    TRY(qemu_template::wait_children_gone(vm.pid(), deadline));
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
