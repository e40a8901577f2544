// The JSON lines of bench_linux. Beside each of the four figures a subject
// reports the parts it is made of: what the guest's own code took (the same
// kernel and shell in both subjects, so the same work) and what is left for
// the VMM. Under nested TCG the guest's part bounds the ratio any VMM could
// reach (docs/benchmarks.md).
#include <fmt/format.h>

#include "linux/linux.hpp"

namespace brood::bench::linux_guest {

void add_boot(Reporter& out, const std::string& subject, const nlohmann::json& params, double ready_ms,
              double guest_uptime_ms) {
    out.add(subject, "boot_ready", "ms", params, ready_ms);
    out.add(subject, "boot_guest_uptime", "ms", params, guest_uptime_ms);
}

void add_restore(Reporter& out, const std::string& subject, const nlohmann::json& params, double running_ms,
                 double answered_ms) {
    out.add(subject, "restore_shell", "ms", params, answered_ms);
    out.add(subject, "restore_running", "ms", params, running_ms);
    out.add(subject, "restore_guest_answer", "ms", params, answered_ms - running_ms);
}

void add_fan_out(Reporter& out, const std::string& subject, const nlohmann::json& params, unsigned forks,
                 const FanOut& fan_out, const PssPerProcess& pss) {
    out.add(subject, fmt::format("fanout{}_all_ready", forks), "ms", params, fan_out.all_answered_ms);
    out.add(subject, fmt::format("fanout{}_all_running", forks), "ms", params, fan_out.all_running_ms);
    out.add(subject, "pss_per_idle_fork", "MiB", params, pss.total_mib);
    out.add(subject, "pss_guest_ram_per_idle_fork", "MiB", params, pss.guest_mib);
}

} // namespace brood::bench::linux_guest
