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
// The guest's own uptime in its ready line ("... uptime=7.12"), in ms.
[[nodiscard]] Result<double> guest_uptime_ms(const std::string& ready_line);

// Pss per process, in MiB: all of it, and the part that is guest RAM.
struct PssPerProcess {
    double total_mib = 0;
    double guest_mib = 0;
};
// Sum of the processes' Pss over their count, after they idled; the guest
// RAM is the mapping of `guest_bytes`.
[[nodiscard]] Result<PssPerProcess> pss_per_process(const std::vector<Child>& vms, uint64_t guest_bytes);

// ms from t0 until the last VM ran its vCPUs, and until the last answered.
struct FanOut {
    double all_running_ms = 0;
    double all_answered_ms = 0;
};
// Runs `resume(i)` (which returns once VM i runs) and then shell_answers for
// every VM at once, one thread each.
[[nodiscard]] Result<FanOut> all_answering(std::vector<Child>& vms, Clock::time_point t0,
                                           const std::function<Result<void>(size_t)>& resume,
                                           Clock::time_point deadline);

// The lines every subject reports beside its four figures, which split
// them into the VMM's part and the guest's own (docs/benchmarks.md).
void add_boot(Reporter& out, const std::string& subject, const nlohmann::json& params, double ready_ms,
              double guest_uptime_ms);
void add_restore(Reporter& out, const std::string& subject, const nlohmann::json& params, double running_ms,
                 double answered_ms);
void add_fan_out(Reporter& out, const std::string& subject, const nlohmann::json& params, unsigned forks,
                 const FanOut& fan_out, const PssPerProcess& pss);

Result<void> brood_side(const Config& config, const ScratchDir& scratch, Reporter& out);
Result<void> qemu_side(const Config& config, const ScratchDir& scratch, Reporter& out);

} // namespace brood::bench::linux_guest
