#include "manager/instance.hpp"

#include <sys/stat.h>

namespace brood::manager {

bool snapshot_present(const Layout& layout, const std::string& id) {
    struct stat st {};
    return ::stat(layout.snapshot_state(id).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           ::stat(layout.snapshot_memory(id).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool memory_is_link(const Layout& layout, const std::string& id) {
    struct stat st {};
    return ::lstat(layout.snapshot_memory(id).c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

InstanceView view_of(const Instance& instance, const Layout& layout) {
    bool snapshot = snapshot_present(layout, instance.id);
    std::lock_guard lock(instance.mutex);
    InstanceView view;
    view.record = instance.record;
    // While an operation is ending the VMM, it counts as alive until the
    // operation commits the new state.
    view.facts.vmm_alive = instance.vmm && (instance.expect_exit || !instance.vmm->poll_exit());
    view.facts.vmm_paused = instance.paused;
    // A Stopped instance has no snapshot: files a guest that powered off
    // left behind are never used (the next start or delete removes them).
    view.facts.snapshot_present = snapshot && instance.record.state != State::stopped;
    view.state = derive_state(instance.record.state, view.facts);
    if (view.facts.vmm_alive) view.pid = instance.vmm->pid();
    if (view.state == State::failed) {
        if (instance.record.last_exit && !instance.record.last_exit->reason.empty())
            view.failure_reason = instance.record.last_exit->reason;
        else if (instance.record.state == State::standby)
            view.failure_reason = "standby snapshot is missing";
        else
            view.failure_reason = "vmm process is gone";
    }
    return view;
}

} // namespace brood::manager
