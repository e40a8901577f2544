// What the parts of broodd's core share: its configuration, the data
// directory's layout, the one registry of instances, the templates, the
// admission counts and the metrics. Manager owns it; lifecycle, forks,
// templates and reconcile each work on it.
#pragma once

#include <cstdint>

#include "manager/admission.hpp"
#include "manager/image_dirs.hpp"
#include "manager/instance.hpp"
#include "manager/layout.hpp"
#include "manager/manager_config.hpp"
#include "manager/metrics.hpp"
#include "manager/registry.hpp"
#include "manager/templates.hpp"

namespace brood::manager {

struct DaemonState {
    // The memory budget is resolved from MemTotal when the config leaves it 0.
    DaemonState(ManagerConfig config, ImageDirs images);
    DaemonState(const DaemonState&) = delete;
    DaemonState& operator=(const DaemonState&) = delete;

    // Reserves room for `count` new instances of `memory_mib` each (sharing
    // a template's memory, or not), or refuses with 409 (admission.hpp).
    OpResult<Admission::Ticket> admit(uint64_t count, uint32_t memory_mib, bool shares_template_memory);

    // Saves the instance's record, edited by `change`, under its mutex; the
    // record in memory changes only once the file is saved.
    template <typename F>
    Result<void> update_record(Instance& instance, F change) {
        std::lock_guard lock(instance.mutex);
        InstanceRecord next = instance.record;
        change(next);
        next.updated_at = now_rfc3339();
        TRY_CTX(save_record(layout.metadata(instance.id), next), "save record of " + instance.id);
        instance.record = std::move(next);
        return {};
    }

    const ManagerConfig config;
    const Layout layout;
    const ImageDirs images;
    Registry registry;
    Admission admission;
    Templates templates{layout};
    Metrics metrics;
};

} // namespace brood::manager
