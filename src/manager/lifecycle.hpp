// An instance's own life: create, start, stop, standby, restore, pause,
// resume and delete (docs/api.md, "States"). Each operation but create runs
// on an instance whose operation lock the caller holds (instance_lock.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "manager/daemon_state.hpp"
#include "manager/instance_network.hpp"
#include "manager/template_ops.hpp"
#include "manager/vmm_keeper.hpp"

namespace brood::manager {

struct CreateSpec {
    std::string name;
    std::string kernel;
    std::string initrd;
    std::string cmdline;
    int64_t memory_mib = 128;
    int64_t vcpus = 1;
    std::vector<DiskRecord> disks; // path and read_only; checked by create
    bool agent = false;
    // A NIC on this bridge (empty: the daemon's); no NIC without it.
    std::optional<std::string> network_bridge;
};

class Lifecycle final {
public:
    Lifecycle(DaemonState& state, VmmKeeper& vmms, InstanceNetwork& network, const TemplateOps& templates)
        : _state(state), _vmms(vmms), _network(network), _templates(templates) {}

    // Checks the spec, admits the instance and registers it, Created; its
    // directory appears whole or not at all.
    OpResult<InstanceView> create(const CreateSpec& spec);
    OpResult<void> start(Instance& instance);
    OpResult<void> stop(Instance& instance, int timeout_ms);
    OpResult<void> standby(Instance& instance);
    OpResult<void> restore(Instance& instance);
    OpResult<void> pause(Instance& instance);
    OpResult<void> resume(Instance& instance);
    OpResult<void> remove(const std::shared_ptr<Instance>& instance);

private:
    // The instance's VMM, booted (no backend) or restored, with its image
    // files handed over as open descriptors; an image that can no longer be
    // opened ends the operation with 400, its pending op cleared.
    OpResult<void> spawn_vmm(Instance& instance, const InstanceRecord& record, std::optional<Backend> backend);
    // pause() or resume(): the vCPUs stopped or running again.
    OpResult<void> set_paused(Instance& instance, bool paused);
    // Drops the instance's snapshot (snapshot_files.hpp) and gives back the
    // fork count of the template its record stopped naming, if any.
    [[nodiscard]] Result<void> forget_snapshot(Instance& instance, const std::string& released_template);

    DaemonState& _state;
    VmmKeeper& _vmms;
    InstanceNetwork& _network;
    const TemplateOps& _templates;
};

} // namespace brood::manager
