#include "manager/admission.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace brood::manager {

namespace {

std::string mib(double value) { return fmt::format("{:.0f} MiB", std::ceil(value)); }

} // namespace

double memory_cost_mib(uint32_t memory_mib, bool shares_template_memory, double fork_overcommit) {
    if (!shares_template_memory || fork_overcommit <= 1.0) return memory_mib;
    return memory_mib / fork_overcommit;
}

std::optional<uint64_t> default_memory_budget_mib() {
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string key;
        uint64_t kib = 0;
        if (fields >> key >> kib && key == "MemTotal:") {
            uint64_t total = kib / 1024;
            uint64_t reserve = std::max<uint64_t>(total / 8, 512);
            return total > reserve ? total - reserve : 0;
        }
    }
    return std::nullopt;
}

OpResult<void> check_admission(const AdmissionLimits& limits, const Usage& in_use, const Usage& requested) {
    if (in_use.instances + requested.instances > limits.max_instances)
        return op_fail(ErrorKind::conflict, "too_many_instances",
                       fmt::format("refused: {} new instance{} requested, {} exist, the limit is {} (--max-instances)",
                                   requested.instances, requested.instances == 1 ? "" : "s", in_use.instances,
                                   limits.max_instances));
    // A small tolerance: costs are fractions of MiB.
    if (in_use.memory_mib + requested.memory_mib > static_cast<double>(limits.memory_budget_mib) + 1e-6)
        return op_fail(ErrorKind::conflict, "over_budget",
                       fmt::format("refused: {} of guest memory requested for {} instance{}, {} in use, the "
                                   "memory budget is {} (--memory-budget-mib; a template fork counts its memory "
                                   "divided by --fork-overcommit {:g})",
                                   mib(requested.memory_mib), requested.instances,
                                   requested.instances == 1 ? "" : "s", mib(in_use.memory_mib),
                                   mib(static_cast<double>(limits.memory_budget_mib)), limits.fork_overcommit));
    return {};
}

Admission::Ticket::~Ticket() {
    if (!_owner) return;
    std::lock_guard lock(_owner->_mutex);
    _owner->_pending.instances -= _usage.instances;
    _owner->_pending.memory_mib -= _usage.memory_mib;
}

OpResult<Admission::Ticket> Admission::admit(const std::function<Usage()>& registered, const Usage& requested) {
    std::lock_guard lock(_mutex);
    Usage now = registered();
    Usage in_use{now.instances + _pending.instances, now.memory_mib + _pending.memory_mib};
    TRY(check_admission(_limits, in_use, requested));
    _pending.instances += requested.instances;
    _pending.memory_mib += requested.memory_mib;
    return Ticket(this, requested);
}

} // namespace brood::manager
