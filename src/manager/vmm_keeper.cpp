#include "manager/vmm_keeper.hpp"

#include <signal.h>
#include <unistd.h>

#include <utility>

#include "manager/op_log.hpp"
#include "manager/vmm_control.hpp"

namespace brood::manager {

namespace {

OpError classify_spawn_error(const Error& e) {
    switch (e.errno_value()) {
    case EINVAL: return OpError(ErrorKind::bad_request, "vmm_rejected_input", e.message());
    case ETIMEDOUT: return OpError(ErrorKind::timeout, "timeout", e.message());
    case ECHILD: return OpError(ErrorKind::vmm_died, "vmm_died", e.message()); // exited before it was ready
    default: return OpError(e);
    }
}

std::string exit_reason(const Layout& layout, const std::string& id, const VmmProcess& vmm) {
    std::string reason = vmm.exit_status().value_or(ExitStatus{}).describe();
    std::string line = last_log_line(layout.vmm_log(id));
    if (!line.empty()) reason += ": " + line;
    return reason;
}

} // namespace

VmmKeeper::VmmKeeper(DaemonState& state, std::optional<VmmCgroups> cgroups)
    : _state(state),
      _cgroups(std::move(cgroups)),
      _supervisor([this](const std::string& id, const std::shared_ptr<VmmProcess>& vmm) { on_exit(id, vmm); }) {}

VmmKeeper::~VmmKeeper() {
    _supervisor.stop();
    if (_cgroups) _cgroups->remove_group();
}

OpResult<void> VmmKeeper::spawn(Instance& instance, std::vector<std::string> args, const std::string& op,
                                std::optional<Backend> backend, std::vector<UniqueFd> files) {
    const Layout& layout = _state.layout;
    {
        const InstanceRecord record = view_of(instance, layout).record;
        auto boxed = jail().args(layout, record);
        args.insert(args.end(), boxed.begin(), boxed.end());
        // What the VMM writes once it runs as its own uid.
        if (auto ok = jail().hand_over(record, {layout.instance_dir(instance.id), layout.logs_dir(instance.id)}); !ok)
            return fail(ok.error().context(op));
    }
    // The cgroups are joined by the VMM itself, first thing: a process
    // that is not yet brood-vmm is one a restarted daemon cannot recognise.
    if (_cgroups && jail().enabled) {
        const InstanceRecord record = view_of(instance, layout).record;
        auto procs = _cgroups->prepare(instance.id, vmm_limits(record.memory_mib, record.vcpus));
        if (!procs) {
            remove_cgroups(instance.id);
            Error e = procs.error().context(op + " " + record.name + ": its cgroup");
            (void)_state.update_record(instance, [&](InstanceRecord& r) {
                r.pending_op = PendingOp::none;
                r.last_exit = ExitInfo{std::nullopt, std::nullopt, op + " failed: " + e.message(), now_rfc3339()};
            });
            return fail(std::move(e));
        }
        for (const auto& file : *procs) args.insert(args.end(), {"--jail-cgroup", file});
    }
    SpawnSpec spec{_state.config.vmm_binary, std::move(args), layout.vmm_log(instance.id),
                   _state.config.ready_timeout_ms, jail().enabled, {}};
    for (const auto& file : files) spec.pass_fds.push_back(file.get());
    std::function<void(pid_t)> on_spawned;
    if (_state.config.vmm_fault) on_spawned = [&](pid_t pid) { fault(VmmStep::spawned, instance, pid); };
    auto spawned = VmmProcess::spawn(spec, on_spawned);
    if (!spawned) {
        OpError error = classify_spawn_error(spawned.error().context(op + " " + view_of(instance, layout).record.name));
        // A VMM that died before it was ready leaves the instance Failed;
        // one that refused its input or never got ready leaves it as it was.
        bool died = error.kind == ErrorKind::vmm_died;
        auto rolled_back = _state.update_record(instance, [&](InstanceRecord& r) {
            r.pending_op = PendingOp::none;
            r.last_exit = ExitInfo{std::nullopt, std::nullopt, op + " failed: " + spawned.error().message(),
                                   now_rfc3339()};
            if (died) r.state = State::failed;
        });
        remove_sockets(instance.id);
        remove_cgroups(instance.id);
        if (!rolled_back) return fail(rolled_back.error());
        return tl::unexpected(error);
    }
    auto vmm = *spawned;
    fault(VmmStep::ready, instance, vmm->pid());
    {
        std::lock_guard lock(instance.mutex);
        instance.vmm = vmm;
        instance.paused = false;
        instance.expect_exit = false;
    }
    auto committed = _state.update_record(instance, [&](InstanceRecord& r) {
        r.state = State::running;
        r.pending_op = PendingOp::none;
        r.vmm_pid = vmm->pid();
        r.last_exit.reset();
        if (backend) r.restore_backend = backend;
    });
    if (!committed) {
        terminate(instance, 0);
        return fail(committed.error());
    }
    _supervisor.watch(instance.id, vmm);
    // Dead before the answer: the caller learns it now, not from a later GET.
    if (vmm->poll_exit()) return tl::unexpected(died_during(instance, vmm, op));
    return {};
}

void VmmKeeper::terminate(Instance& instance, int graceful_ms) {
    std::shared_ptr<VmmProcess> vmm;
    bool paused = false;
    {
        std::lock_guard lock(instance.mutex);
        vmm = instance.vmm;
        paused = instance.paused;
        instance.expect_exit = true;
    }
    if (vmm && !vmm->poll_exit()) {
        VmmControl control(_state.layout.control_socket(instance.id));
        if (graceful_ms > 0 && !paused && control.shutdown(false, graceful_ms)) vmm->wait_exit(graceful_ms + 2'000);
        if (!vmm->exited() && control.shutdown(true, 0)) vmm->wait_exit(3'000);
        if (!vmm->exited()) {
            vmm->kill(SIGKILL);
            vmm->wait_exit(10'000);
        }
    }
    {
        std::lock_guard lock(instance.mutex);
        instance.vmm.reset();
        instance.paused = false;
        instance.expect_exit = false;
    }
    remove_sockets(instance.id);
    remove_cgroups(instance.id);
}

void VmmKeeper::watch(const std::string& id, std::shared_ptr<VmmProcess> vmm) {
    _supervisor.watch(id, std::move(vmm));
}

void VmmKeeper::settle(const std::shared_ptr<Instance>& instance) const {
    std::shared_ptr<VmmProcess> vmm;
    {
        std::lock_guard lock(instance->mutex);
        if (!instance->vmm || instance->expect_exit || !instance->vmm->poll_exit()) return;
        vmm = instance->vmm;
    }
    on_exit(instance->id, vmm);
}

void VmmKeeper::on_exit(const std::string& id, const std::shared_ptr<VmmProcess>& vmm) const {
    if (auto instance = _state.registry.find(id)) record_exit(*instance, vmm);
}

void VmmKeeper::record_exit(Instance& instance, const std::shared_ptr<VmmProcess>& vmm) const {
    const std::string& id = instance.id;
    std::string released;
    {
        std::lock_guard lock(instance.mutex);
        if (instance.vmm != vmm || instance.expect_exit || instance.removed) return;
        instance.vmm.reset();
        instance.paused = false;
        ExitStatus status = vmm->exit_status().value_or(ExitStatus{});
        InstanceRecord next = instance.record;
        next.last_exit = ExitInfo{status.code, status.signal, exit_reason(_state.layout, id, *vmm), now_rfc3339()};
        next.state = status.code == 0 ? State::stopped : State::failed;
        next.vmm_pid = 0;
        next.updated_at = now_rfc3339();
        // A guest that powered off is Stopped: it names no template any
        // more. Its snapshot files are left to the next start, delete or
        // daemon start (no operation lock is held here); until then they
        // are never used.
        if (next.state == State::stopped) released = std::exchange(next.template_id, "");
        log_vmm_exit(next.name, vmm->pid(), std::string(to_string(next.state)), next.last_exit->reason);
        // Before the new state is seen: a start that follows must not find
        // (or lose) the dead VMM's sockets and cgroups.
        remove_sockets(id);
        remove_cgroups(id);
        if (!save_record(_state.layout.metadata(id), next)) return;
        instance.record = std::move(next);
    }
    if (!released.empty()) (void)_state.templates.add_forks(released, -1);
}

OpError VmmKeeper::died_during(Instance& instance, const std::shared_ptr<VmmProcess>& vmm,
                               const std::string& op) const {
    record_exit(instance, vmm); // unless the supervisor was first
    std::string name;
    {
        std::lock_guard lock(instance.mutex);
        name = instance.record.name;
    }
    return OpError(ErrorKind::vmm_died, "vmm_died",
                   op + " " + name + ": the vmm died: " + exit_reason(_state.layout, instance.id, *vmm));
}

void VmmKeeper::fault(VmmStep step, const Instance& instance, pid_t pid) const {
    if (!_state.config.vmm_fault) return;
    std::string name;
    {
        std::lock_guard lock(instance.mutex);
        name = instance.record.name;
    }
    _state.config.vmm_fault(step, name, pid);
}

void VmmKeeper::remove_sockets(const std::string& id) const {
    ::unlink(_state.layout.control_socket(id).c_str());
    ::unlink(_state.layout.serial_socket(id).c_str());
    ::unlink(_state.layout.vsock_socket(id).c_str());
}

void VmmKeeper::remove_cgroups(const std::string& id) const {
    if (_cgroups) _cgroups->remove(id);
}

void VmmKeeper::sweep_cgroups() const {
    if (!_cgroups) return;
    _cgroups->sweep([&](const std::string& id) {
        auto instance = _state.registry.find(id);
        if (!instance) return false;
        std::lock_guard lock(instance->mutex);
        return instance->vmm != nullptr;
    });
}

} // namespace brood::manager
