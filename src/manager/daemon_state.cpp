#include "manager/daemon_state.hpp"

#include <limits>

namespace brood::manager {

namespace {

AdmissionLimits resolved_limits(AdmissionLimits limits) {
    if (limits.memory_budget_mib == 0)
        limits.memory_budget_mib = default_memory_budget_mib().value_or(std::numeric_limits<uint64_t>::max() >> 20);
    return limits;
}

} // namespace

DaemonState::DaemonState(ManagerConfig config_in, ImageDirs images_in)
    : config(std::move(config_in)), layout(config.data_dir), images(std::move(images_in)),
      admission(resolved_limits(config.admission)) {}

OpResult<Admission::Ticket> DaemonState::admit(uint64_t count, uint32_t memory_mib, bool shares_template_memory) {
    double overcommit = admission.limits().fork_overcommit;
    Usage requested{count, static_cast<double>(count) * memory_cost_mib(memory_mib, shares_template_memory, overcommit)};
    return admission.admit(
        [&] {
            Usage used;
            for (const auto& instance : registry.all()) {
                std::lock_guard lock(instance->mutex);
                const InstanceRecord& r = instance->record;
                ++used.instances;
                used.memory_mib += memory_cost_mib(r.memory_mib, !r.template_id.empty(), overcommit);
            }
            return used;
        },
        requested);
}

} // namespace brood::manager
