// QEMU microvm with KVM, the peer: cold boots with plain RAM; then VM
// templating at its best: the source's RAM is a shared memory file
// (memory-backend-file, share=on) and its migration stream leaves RAM out
// (x-ignore-shared); each clone maps the same file privately (share=off),
// takes the small stream with `-incoming defer` + `migrate-incoming`, and
// continues.
#include <signal.h>

#include <thread>

#include <fmt/format.h>

#include "linux/linux.hpp"
#include "support/qmp.hpp"

namespace brood::bench::linux_guest {
namespace {

const nlohmann::json kIgnoreShared = {{"capabilities", nlohmann::json::array({{{"capability", "x-ignore-shared"},
                                                                                {"state", true}}})}};

std::vector<std::string> qemu_command(const Config& c, const std::string& machine) {
    return {c.qemu, "-M", machine, "-accel", "kvm", "-cpu", "host", "-m", std::to_string(c.memory_mib) + "M",
            "-smp", std::to_string(c.vcpus), "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
            "-kernel", c.vmlinux, "-initrd", c.initrd, "-append", c.cmdline};
}

// With the guest's RAM in `mem_path`, shared (the template) or private (a clone).
std::vector<std::string> with_memory_file(const Config& c, const std::string& mem_path, bool share,
                                          const std::string& qmp_path) {
    auto command = qemu_command(c, "microvm,memory-backend=mem");
    command.insert(command.end(),
                   {"-object",
                    fmt::format("memory-backend-file,id=mem,size={}M,mem-path={},share={}", c.memory_mib, mem_path,
                                share ? "on" : "off"),
                    "-qmp", fmt::format("unix:{},server=on,wait=off", qmp_path)});
    return command;
}

Result<void> wait_migration(Qmp& qmp, Clock::time_point deadline) {
    for (;;) {
        auto event = TRY(qmp.wait_event("MIGRATION", deadline));
        const std::string status = event["data"].value("status", "");
        if (status == "completed") return {};
        if (status == "failed" || status == "cancelled") return fail("QEMU migration " + status);
    }
}

// The template: boot with a shared memory file, save the device state only.
Result<void> make_template(const Config& c, const ScratchDir& scratch) {
    const std::string qmp_path = scratch / "qemu-template.qmp";
    SpawnOptions options;
    options.stderr_path = scratch / "qemu-template.stderr";
    auto vm = TRY(Child::spawn(with_memory_file(c, scratch / "qemu.mem", true, qmp_path), options));
    auto deadline = deadline_in(c.timeout);
    TRY_CTX(vm.out().wait_for("brood-initrd ready", deadline), "QEMU template boot: " + vm.stderr_tail());
    TRY(shell_answers(vm, deadline));
    auto qmp = TRY(Qmp::connect(qmp_path, deadline));
    auto caps = kIgnoreShared;
    caps["capabilities"].push_back({{"capability", "events"}, {"state", true}});
    TRY(qmp.execute("migrate-set-capabilities", caps));
    TRY(qmp.execute("stop"));
    TRY(qmp.execute("migrate", {{"uri", fmt::format("exec:cat > {}", scratch / "qemu.state")}}));
    TRY(wait_migration(qmp, deadline));
    // QEMU's `cat` may still be writing when QEMU says "completed".
    std::this_thread::sleep_for(Millis(500));
    vm.stop(SIGKILL, Millis(0));
    return {};
}

struct Clone {
    Child child;
    std::string qmp_path;
};

Result<Clone> spawn_clone(const Config& c, const ScratchDir& scratch, const std::string& tag) {
    const std::string qmp_path = scratch / (tag + ".qmp");
    auto command = with_memory_file(c, scratch / "qemu.mem", false, qmp_path);
    command.insert(command.end(), {"-incoming", "defer"});
    SpawnOptions options;
    options.stderr_path = scratch / (tag + ".stderr");
    return Clone{TRY(Child::spawn(command, options)), qmp_path};
}

// Loads the stream and runs the clone; returns once its vCPUs run.
Result<void> resume_clone(const Child& child, const std::string& qmp_path, const ScratchDir& scratch,
                          Clock::time_point deadline) {
    auto qmp = TRY_CTX(Qmp::connect(qmp_path, deadline), child.stderr_tail());
    TRY(qmp.execute("migrate-set-capabilities", kIgnoreShared));
    TRY(qmp.execute("migrate-incoming", {{"uri", fmt::format("exec:cat {}", scratch / "qemu.state")}}));
    for (;;) {
        auto status = TRY(qmp.execute("query-status"));
        const std::string now = status.value("status", "");
        if (now == "running") return {};
        if (now != "inmigrate" && now != "prelaunch") {
            TRY(qmp.execute("cont"));
            TRY(qmp.wait_event("RESUME", deadline));
            return {};
        }
        if (Clock::now() >= deadline) return fail("QEMU: incoming migration did not finish");
        std::this_thread::sleep_for(Millis(1));
    }
}

} // namespace

Result<void> qemu_side(const Config& c, const ScratchDir& scratch, Reporter& out) {
    for (unsigned run = 0; run < c.boots; ++run) {
        SpawnOptions options;
        options.stderr_path = scratch / "qemu-boot.stderr";
        auto vm = TRY(Child::spawn(qemu_command(c, "microvm"), options));
        auto ready = TRY_CTX(vm.out().wait_for("brood-initrd ready", deadline_in(c.timeout)),
                             "QEMU boot: " + vm.stderr_tail());
        out.add("qemu", "boot_ready", "ms", c.params(), ms_between(vm.started_at(), ready.at));
        note("bench_linux: qemu boot {}: {:.0f} ms, guest says \"{}\"", run, ms_between(vm.started_at(), ready.at),
             ready.text);
        vm.stop(SIGKILL, Millis(0));
    }
    TRY(make_template(c, scratch));
    auto params = c.params();
    params["qemu_config"] = "memory-backend-file share=off, x-ignore-shared";
    for (unsigned run = 0; run < c.restores; ++run) {
        auto clone = TRY(spawn_clone(c, scratch, "qemu-restore"));
        auto deadline = deadline_in(Millis(120'000));
        TRY(resume_clone(clone.child, clone.qmp_path, scratch, deadline));
        const auto running = Clock::now();
        auto answered = TRY(shell_answers(clone.child, deadline));
        note("bench_linux: qemu restore {}: vCPUs run after {:.0f} ms, shell answered after {:.0f} ms", run,
             ms_between(clone.child.started_at(), running), ms_between(clone.child.started_at(), answered));
        out.add("qemu", "restore_shell", "ms", params, ms_between(clone.child.started_at(), answered));
        clone.child.stop(SIGKILL, Millis(0));
    }
    std::vector<Child> children;
    std::vector<std::string> qmp_paths;
    const auto t0 = Clock::now();
    for (unsigned i = 0; i < c.forks; ++i) {
        auto clone = TRY(spawn_clone(c, scratch, fmt::format("qemu-fork-{}", i)));
        children.push_back(std::move(clone.child));
        qmp_paths.push_back(clone.qmp_path);
    }
    const auto deadline = deadline_in(c.timeout);
    auto resume = [&](size_t i) { return resume_clone(children[i], qmp_paths[i], scratch, deadline); };
    params["forks"] = c.forks;
    auto all = TRY(all_answering(children, t0, resume, deadline));
    out.add("qemu", fmt::format("fanout{}_all_ready", c.forks), "ms", params, all);
    out.add("qemu", "pss_per_idle_fork", "MiB", params, TRY(pss_per_process_mib(children, c.memory_mib << 20)));
    for (auto& child : children) child.stop(SIGKILL, Millis(0));
    return {};
}

} // namespace brood::bench::linux_guest
