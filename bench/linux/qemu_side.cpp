// QEMU microvm with KVM, the peer: cold boots with plain RAM; then VM
// templating at its best (support/qemu_template.hpp).
#include <signal.h>

#include <thread>

#include <fmt/format.h>

#include "linux/linux.hpp"
#include "support/qemu_template.hpp"

namespace brood::bench::linux_guest {
namespace {

std::vector<std::string> qemu_command(const Config& c) {
    return {c.qemu, "-M", "microvm", "-accel", "kvm", "-cpu", "host", "-m", std::to_string(c.memory_mib) + "M",
            "-smp", std::to_string(c.vcpus), "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
            "-kernel", c.vmlinux, "-initrd", c.initrd, "-append", c.cmdline};
}

// The template: boot with a shared memory file, save the device state only.
Result<void> make_template(const Config& c, const ScratchDir& scratch) {
    const std::string qmp_path = scratch / "qemu-template.qmp";
    SpawnOptions options;
    options.stderr_path = scratch / "qemu-template.stderr";
    auto command = qemu_template::with_qmp(
        qemu_template::with_memory_file(qemu_command(c), c.memory_mib, scratch / "qemu.mem", true), qmp_path);
    auto vm = TRY(Child::spawn(command, options));
    auto deadline = deadline_in(c.timeout);
    TRY_CTX(vm.out().wait_for("brood-initrd ready", deadline), "QEMU template boot: " + vm.stderr_tail());
    TRY(shell_answers(vm, deadline));
    auto qmp = TRY(Qmp::connect(qmp_path, deadline));
    TRY(qemu_template::save_template(qmp, vm.pid(), scratch / "qemu.state", deadline));
    vm.stop(SIGKILL, Millis(0));
    return {};
}

struct Clone {
    Child child;
    std::string qmp_path;
};

Result<Clone> spawn_clone(const Config& c, const ScratchDir& scratch, const std::string& tag) {
    const std::string qmp_path = scratch / (tag + ".qmp");
    SpawnOptions options;
    options.stderr_path = scratch / (tag + ".stderr");
    auto command = qemu_template::clone_command(qemu_command(c), c.memory_mib, scratch / "qemu.mem", qmp_path);
    return Clone{TRY(Child::spawn(command, options)), qmp_path};
}

// Loads the stream and runs the clone; returns once its vCPUs run.
Result<void> resume_clone(const Child& child, const std::string& qmp_path, const ScratchDir& scratch,
                          Clock::time_point deadline) {
    TRY(qemu_template::resume_clone(child, qmp_path, scratch / "qemu.state", deadline));
    return {};
}

} // namespace

Result<void> qemu_side(const Config& c, const ScratchDir& scratch, Reporter& out) {
    for (unsigned run = 0; run < c.boots; ++run) {
        SpawnOptions options;
        options.stderr_path = scratch / "qemu-boot.stderr";
        auto vm = TRY(Child::spawn(qemu_command(c), options));
        auto ready = TRY_CTX(vm.out().wait_for("brood-initrd ready", deadline_in(c.timeout)),
                             "QEMU boot: " + vm.stderr_tail());
        add_boot(out, "qemu", c.params(), ms_between(vm.started_at(), ready.at), TRY(guest_uptime_ms(ready.text)));
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
        add_restore(out, "qemu", params, ms_between(clone.child.started_at(), running),
                    ms_between(clone.child.started_at(), answered));
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
    add_fan_out(out, "qemu", params, c.forks, all, TRY(pss_per_process(children, c.memory_mib << 20)));
    for (auto& child : children) child.stop(SIGKILL, Millis(0));
    return {};
}

} // namespace brood::bench::linux_guest
