// brood-vmm: cold boots; a snapshot of the idle shell; restores of it with
// the memory file mapped copy-on-write (backend file), one at a time and N
// at once, as broodd's template forks do.
#include <signal.h>

#include <fmt/format.h>

#include "linux/linux.hpp"
#include "support/subjects.hpp"

namespace brood::bench::linux_guest {
namespace {

std::vector<std::string> boot_command(const Config& c, const std::string& control) {
    return {c.vmm, "boot", "--kernel", c.vmlinux, "--initrd", c.initrd, "--cmdline", c.cmdline,
            "--memory-mib", std::to_string(c.memory_mib), "--vcpus", std::to_string(c.vcpus),
            "--serial-stdio", "--control-socket", control};
}

Result<Child> spawn_restore(const Config& c, const ScratchDir& scratch, const std::string& tag) {
    SpawnOptions options;
    options.ready_pipe = true;
    options.stderr_path = scratch / (tag + ".stderr");
    return Child::spawn({c.vmm, "restore", "--state", scratch / "brood.state", "--memory", scratch / "brood.memory",
                         "--backend", "file", "--serial-stdio", "--ready-fd", "3"},
                        options);
}

} // namespace

Result<void> brood_side(const Config& c, const ScratchDir& scratch, Reporter& out) {
    for (unsigned run = 0; run < c.boots; ++run) {
        const std::string control = scratch / fmt::format("brood-{}.sock", run);
        SpawnOptions options;
        options.stderr_path = scratch / "brood-boot.stderr";
        auto vm = TRY(Child::spawn(boot_command(c, control), options));
        auto ready = TRY_CTX(vm.out().wait_for("brood-initrd ready", deadline_in(c.timeout)),
                             "brood boot: " + vm.stderr_tail());
        add_boot(out, "brood", c.params(), ms_between(vm.started_at(), ready.at), TRY(guest_uptime_ms(ready.text)));
        note("bench_linux: brood boot {}: {:.0f} ms, guest says \"{}\"", run, ms_between(vm.started_at(), ready.at),
             ready.text);
        TRY(shell_answers(vm, deadline_in(Millis(60'000))));
        if (run + 1 < c.boots) continue;
        auto api = TRY(BroodControl::connect(control));
        TRY(api.pause_and_snapshot(scratch / "brood.state", scratch / "brood.memory"));
        auto size = TRY(file_size(scratch / "brood.memory"));
        note("bench_linux: brood snapshot: memory file {:.1f} MiB allocated", static_cast<double>(size.allocated) / 1048576.0);
        vm.stop(SIGKILL, Millis(0));
    }
    for (unsigned run = 0; run < c.restores; ++run) {
        auto vm = TRY(spawn_restore(c, scratch, "brood-restore"));
        auto running = TRY(vm.wait_ready(deadline_in(Millis(60'000))));
        auto answered = TRY(shell_answers(vm, deadline_in(Millis(60'000))));
        note("bench_linux: brood restore {}: vCPUs run after {:.0f} ms, shell answered after {:.0f} ms", run,
             ms_between(vm.started_at(), running), ms_between(vm.started_at(), answered));
        add_restore(out, "brood", c.params(), ms_between(vm.started_at(), running),
                    ms_between(vm.started_at(), answered));
        vm.stop(SIGKILL, Millis(0));
    }
    std::vector<Child> vms;
    vms.reserve(c.forks);
    const auto t0 = Clock::now();
    for (unsigned i = 0; i < c.forks; ++i) vms.push_back(TRY(spawn_restore(c, scratch, fmt::format("brood-fork-{}", i))));
    const auto deadline = deadline_in(c.timeout);
    auto ready = [&](size_t i) -> Result<void> {
        TRY(vms[i].wait_ready(deadline));
        return {};
    };
    auto all = TRY(all_answering(vms, t0, ready, deadline));
    auto params = c.params();
    params["forks"] = c.forks;
    add_fan_out(out, "brood", params, c.forks, all, TRY(pss_per_process(vms, c.memory_mib << 20)));
    for (auto& vm : vms) vm.stop(SIGKILL, Millis(0));
    return {};
}

} // namespace brood::bench::linux_guest
