// The VMM processes of instances: spawned for a start or a restore, ended
// on purpose, or found dead and recorded (Failed, or Stopped after a guest
// power-off), either by the supervisor or by the operation that needed the
// VMM (502 vmm_died).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "manager/daemon_state.hpp"
#include "manager/supervisor.hpp"
#include "manager/vmm_cgroup.hpp"
#include "manager/vmm_jail.hpp"
#include "manager/vmm_process.hpp"

namespace brood::manager {

class VmmKeeper final {
public:
    // `cgroups`: where each VMM gets its cgroup, or none.
    VmmKeeper(DaemonState& state, std::optional<VmmCgroups> cgroups);
    VmmKeeper(const VmmKeeper&) = delete;
    VmmKeeper& operator=(const VmmKeeper&) = delete;
    ~VmmKeeper(); // stops watching: no exit is recorded after this

    // Starts the instance's VMM with `args` (boxed when the config says so)
    // and commits the record as Running; `op` names the operation in errors.
    // `backend` is set for a restore, nullopt for a boot. `files` reach the
    // VMM as fds kFirstPassedFd on (vmm_process.hpp).
    OpResult<void> spawn(Instance& instance, std::vector<std::string> args, const std::string& op,
                         std::optional<Backend> backend, std::vector<UniqueFd> files = {});
    // Stops the VMM (graceful first when `graceful_ms` > 0), waits, and forgets it.
    void terminate(Instance& instance, int graceful_ms);
    // Watches a VMM taken over at daemon start.
    void watch(const std::string& id, std::shared_ptr<VmmProcess> vmm);

    // Records a VMM exit the supervisor has not handled yet, so no caller
    // sees a state between "VMM gone" and "exit recorded".
    void settle(const std::shared_ptr<Instance>& instance) const;
    // `vmm` ended during `op`, which needed it: records the exit and returns
    // 502 vmm_died with the exit reason.
    [[nodiscard]] OpError died_during(Instance& instance, const std::shared_ptr<VmmProcess>& vmm,
                                      const std::string& op) const;
    // Tests only: the config's VMM fault hook at `step`.
    void fault(VmmStep step, const Instance& instance, pid_t pid) const;
    void remove_sockets(const std::string& id) const;
    // Removes the cgroups of an instance whose VMM is gone.
    void remove_cgroups(const std::string& id) const;
    // At daemon start: removes every VMM cgroup but those of instances with a live VMM.
    void sweep_cgroups() const;
    VmmJail jail() const { return {_state.config.vmm_jail, _state.config.vmm_uid_base}; }

private:
    void on_exit(const std::string& id, const std::shared_ptr<VmmProcess>& vmm) const;
    // Records the exit of `vmm` unless an operation is ending it on purpose
    // or it was recorded already.
    void record_exit(Instance& instance, const std::shared_ptr<VmmProcess>& vmm) const;

    DaemonState& _state;
    std::optional<VmmCgroups> _cgroups;
    Supervisor _supervisor;
};

} // namespace brood::manager
