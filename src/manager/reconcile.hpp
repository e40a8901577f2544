// Startup: make records, directories and VMM processes agree again after a
// daemon that may have been killed at any moment (docs/manager.md,
// "Restart and reconcile").
#pragma once

#include <sys/types.h>

#include <memory>

#include "manager/daemon_state.hpp"
#include "manager/instance_network.hpp"
#include "manager/vmm_keeper.hpp"

namespace brood::manager {

// What the daemon found and repaired when it opened the data directory.
struct ReconcileReport {
    int loaded = 0;
    int adopted = 0;        // live VMMs taken over
    int marked_failed = 0;
    int removed_dirs = 0;   // half-created or half-deleted directories
    int killed_strays = 0;  // VMM processes that belonged to no instance
};

class Reconciler final {
public:
    Reconciler(DaemonState& state, VmmKeeper& vmms, InstanceNetwork& network)
        : _state(state), _vmms(vmms), _network(network) {}

    // Loads every instance into the registry (finishing or rolling back its
    // pending operation, adopting its live VMM), then the templates with
    // their fork counts recounted, and kills VMMs that belong to no instance.
    [[nodiscard]] Result<ReconcileReport> run();

private:
    void reconcile_instance(const std::shared_ptr<Instance>& instance, pid_t live_pid);

    DaemonState& _state;
    VmmKeeper& _vmms;
    InstanceNetwork& _network;
    ReconcileReport _report;
};

} // namespace brood::manager
