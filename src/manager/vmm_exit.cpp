// A VMM that ends without an operation asking for it: recorded by the
// supervisor (or the next lookup), or reported by the operation that needed
// it as 502 vmm_died.
#include <utility>

#include "manager/manager.hpp"
#include "manager/manager_inline.hpp"
#include "manager/op_log.hpp"

namespace brood::manager {

namespace {

std::string exit_reason(const Layout& layout, const std::string& id, const VmmProcess& vmm) {
    std::string reason = vmm.exit_status().value_or(ExitStatus{}).describe();
    std::string line = last_log_line(layout.vmm_log(id));
    if (!line.empty()) reason += ": " + line;
    return reason;
}

} // namespace

void Manager::settle(const std::shared_ptr<Instance>& instance) const {
    std::shared_ptr<VmmProcess> vmm;
    {
        std::lock_guard lock(instance->mutex);
        if (!instance->vmm || instance->expect_exit || !instance->vmm->poll_exit()) return;
        vmm = instance->vmm;
    }
    on_vmm_exit(instance->id, vmm);
}

void Manager::on_vmm_exit(const std::string& id, const std::shared_ptr<VmmProcess>& vmm) const {
    if (auto instance = _registry.find(id)) record_exit(*instance, vmm);
}

void Manager::record_exit(Instance& instance, const std::shared_ptr<VmmProcess>& vmm) const {
    const std::string& id = instance.id;
    std::string released;
    {
        std::lock_guard lock(instance.mutex);
        if (instance.vmm != vmm || instance.expect_exit || instance.removed) return;
        instance.vmm.reset();
        instance.paused = false;
        ExitStatus status = vmm->exit_status().value_or(ExitStatus{});
        InstanceRecord next = instance.record;
        next.last_exit = ExitInfo{status.code, status.signal, exit_reason(_layout, id, *vmm), now_rfc3339()};
        next.state = status.code == 0 ? State::stopped : State::failed;
        next.vmm_pid = 0;
        next.updated_at = now_rfc3339();
        // A guest that powered off is Stopped: it names no template any
        // more. Its snapshot files are left to the next start, delete or
        // daemon start (no operation lock is held here); until then they
        // are never used.
        if (next.state == State::stopped) released = std::exchange(next.template_id, "");
        log_vmm_exit(next.name, vmm->pid(), std::string(to_string(next.state)), next.last_exit->reason);
        if (!save_record(_layout.metadata(id), next)) return;
        instance.record = std::move(next);
    }
    if (!released.empty()) (void)_templates.add_forks(released, -1);
    remove_sockets(id);
}

OpError Manager::vmm_died_during(Instance& instance, const std::shared_ptr<VmmProcess>& vmm,
                                 const std::string& op) const {
    record_exit(instance, vmm); // unless the supervisor was first
    std::string name;
    {
        std::lock_guard lock(instance.mutex);
        name = instance.record.name;
    }
    return OpError(ErrorKind::vmm_died, "vmm_died",
                   op + " " + name + ": the vmm died: " + exit_reason(_layout, instance.id, *vmm));
}

void Manager::vmm_fault(VmmStep step, const Instance& instance, pid_t pid) const {
    if (!_config.vmm_fault) return;
    std::string name;
    {
        std::lock_guard lock(instance.mutex);
        name = instance.record.name;
    }
    _config.vmm_fault(step, name, pid);
}

} // namespace brood::manager
