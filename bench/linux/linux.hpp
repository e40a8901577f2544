// bench_linux: Debian's kernel and busybox shell in brood-vmm and in QEMU
// microvm, both on the same hardware-assisted KVM (the hardware-KVM lane's
// L1). Each side reports boot_ready, restore_shell, fanout10_all_ready and
// pss_per_idle_fork; QEMU clones in its best configuration (a shared memory
// file mapped privately, x-ignore-shared), as VM templating does.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "support/child.hpp"
#include "support/environment.hpp"
#include "support/report.hpp"

namespace brood::bench::linux_guest {

struct Config {
    std::string vmm, qemu, vmlinux, initrd;
    std::string cmdline = "console=ttyS0 reboot=k panic=-1";
    uint64_t memory_mib = 256;
    unsigned vcpus = 1;
    unsigned boots = 2;    // cold boots per subject
    unsigned restores = 3; // single restores per subject
    unsigned forks = 10;   // VMs restored at once from one snapshot
    Millis timeout{600'000};
    nlohmann::json params() const { return {{"memory_mib", memory_mib}, {"vcpus", vcpus}}; }
};

// Types a command the shell answers with "bench-42"; when the answer came.
[[nodiscard]] Result<Clock::time_point> shell_answers(Child& vm, Clock::time_point deadline);
// Sum of the processes' Pss over their count, in MiB, after they idled (and
// a note of how much of it is the guest RAM mapping of `guest_bytes`).
[[nodiscard]] Result<double> pss_per_process_mib(const std::vector<Child>& vms, uint64_t guest_bytes);
// Runs `resume(i)` (which returns once VM i runs) and then shell_answers for
// every VM at once, one thread each; ms from t0 until the last answered.
[[nodiscard]] Result<double> all_answering(std::vector<Child>& vms, Clock::time_point t0,
                                           const std::function<Result<void>(size_t)>& resume,
                                           Clock::time_point deadline);

Result<void> brood_side(const Config& config, const ScratchDir& scratch, Reporter& out);
Result<void> qemu_side(const Config& config, const ScratchDir& scratch, Reporter& out);

} // namespace brood::bench::linux_guest
