// Instance lifecycle operations: start, stop, standby, restore, pause, resume.
#include <signal.h>

#include <filesystem>

#include "manager/instance_lock.hpp"
#include "manager/manager.hpp"
#include "manager/manager_inline.hpp"
#include "manager/snapshot_files.hpp"
#include "manager/vmm_args.hpp"
#include "manager/vmm_control.hpp"

namespace brood::manager {

namespace {

std::string state_text(State s) { return std::string(to_string(s)); }

OpError classify_spawn_error(const Error& e) {
    switch (e.errno_value()) {
    case EINVAL: return OpError(ErrorKind::bad_request, "vmm_rejected_input", e.message());
    case ETIMEDOUT: return OpError(ErrorKind::timeout, "timeout", e.message());
    default: return OpError(e);
    }
}

} // namespace

OpResult<InstanceView> Manager::start(const std::string& ref) {
    return timed("start", [&]() -> OpResult<InstanceView> {
        auto found = TRY(lookup(ref));
        auto lock = TRY(OpLock::acquire(found, _config.lock_timeout_ms));
        TRY(do_start(lock.instance()));
        return view_of(lock.instance(), _layout);
    });
}

OpResult<void> Manager::do_start(Instance& instance) {
    // The template guard comes first: it is the reason that matters.
    TRY(refuse_template_source(instance, "start"));
    InstanceView view = view_of(instance, _layout);
    switch (view.state) {
    case State::created:
    case State::stopped:
    case State::failed: break;
    case State::standby:
        return wrong_state("instance " + view.record.name + " is in Standby; restore it instead");
    default: return wrong_state("instance " + view.record.name + " is already " + state_text(view.state));
    }
    TRY(update_record(instance, [](InstanceRecord& r) { r.pending_op = "start"; }));
    remove_sockets(instance.id);
    // A cold boot makes any earlier standby snapshot meaningless.
    std::error_code ec;
    std::filesystem::remove_all(_layout.snapshots_dir(instance.id), ec);
    return spawn_vmm(instance, boot_args(_layout, view.record), "start", "");
}

OpResult<void> Manager::spawn_vmm(Instance& instance, std::vector<std::string> args, const std::string& op,
                                  const std::string& backend) {
    SpawnSpec spec{_config.vmm_binary, std::move(args), _layout.vmm_log(instance.id), _config.ready_timeout_ms};
    auto spawned = VmmProcess::spawn(spec);
    if (!spawned) {
        Error e = spawned.error();
        auto rolled_back = update_record(instance, [&](InstanceRecord& r) {
            r.pending_op.clear();
            r.last_exit = ExitInfo{std::nullopt, std::nullopt, op + " failed: " + e.message(), now_rfc3339()};
        });
        remove_sockets(instance.id);
        if (!rolled_back) return fail(rolled_back.error());
        return tl::unexpected(classify_spawn_error(e.context(op)));
    }
    auto vmm = *spawned;
    {
        std::lock_guard lock(instance.mutex);
        instance.vmm = vmm;
        instance.paused = false;
        instance.expect_exit = false;
    }
    auto committed = update_record(instance, [&](InstanceRecord& r) {
        r.state = State::running;
        r.pending_op.clear();
        r.vmm_pid = vmm->pid();
        r.last_exit.reset();
        if (op == "restore") r.restore_backend = backend;
    });
    if (!committed) {
        terminate_vmm(instance, 0);
        return fail(committed.error());
    }
    _supervisor->watch(instance.id, vmm);
    return {};
}

void Manager::terminate_vmm(Instance& instance, int graceful_ms) {
    std::shared_ptr<VmmProcess> vmm;
    bool paused = false;
    {
        std::lock_guard lock(instance.mutex);
        vmm = instance.vmm;
        paused = instance.paused;
        instance.expect_exit = true;
    }
    if (vmm && !vmm->poll_exit()) {
        VmmControl control(_layout.control_socket(instance.id));
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
}

OpResult<InstanceView> Manager::stop(const std::string& ref, std::optional<int> timeout_ms) {
    return timed("stop", [&]() -> OpResult<InstanceView> {
        auto found = TRY(lookup(ref));
        auto lock = TRY(OpLock::acquire(found, _config.lock_timeout_ms));
        TRY(do_stop(lock.instance(), timeout_ms.value_or(_config.default_stop_timeout_ms)));
        return view_of(lock.instance(), _layout);
    });
}

OpResult<void> Manager::do_stop(Instance& instance, int timeout_ms) {
    InstanceView view = view_of(instance, _layout);
    if (view.state != State::running && view.state != State::paused)
        return wrong_state("instance " + view.record.name + " is " + state_text(view.state) + ", not Running");
    TRY(update_record(instance, [](InstanceRecord& r) { r.pending_op = "stop"; }));
    std::shared_ptr<VmmProcess> vmm;
    {
        std::lock_guard lock(instance.mutex);
        vmm = instance.vmm;
    }
    terminate_vmm(instance, timeout_ms);
    std::optional<ExitStatus> status = vmm ? vmm->exit_status() : std::nullopt;
    TRY(update_record(instance, [&](InstanceRecord& r) {
        r.state = State::stopped;
        r.pending_op.clear();
        r.vmm_pid = 0;
        ExitInfo e{std::nullopt, std::nullopt, "stopped by request", now_rfc3339()};
        if (status) {
            e.exit_code = status->code;
            e.signal = status->signal;
        }
        r.last_exit = e;
    }));
    return {};
}

OpResult<InstanceView> Manager::standby(const std::string& ref) {
    return timed("standby", [&]() -> OpResult<InstanceView> {
        auto found = TRY(lookup(ref));
        auto lock = TRY(OpLock::acquire(found, _config.lock_timeout_ms));
        TRY(do_standby(lock.instance()));
        return view_of(lock.instance(), _layout);
    });
}

OpResult<void> Manager::do_standby(Instance& instance) {
    InstanceView view = view_of(instance, _layout);
    if (view.state != State::running && view.state != State::paused)
        return wrong_state("instance " + view.record.name + " is " + state_text(view.state) +
                           "; standby needs it Running or Paused");
    // A template fork maps the template's file (backend file): its snapshot
    // is a diff, written to its own new memory file, which replaces the link.
    bool diff = memory_is_link(_layout, instance.id) && view.record.restore_backend == "file";
    TRY(update_record(instance, [](InstanceRecord& r) { r.pending_op = "standby"; }));
    // An older snapshot must go first: after a crash, a snapshot-latest must
    // mean "this standby completed", or a restart would roll the guest back.
    // (A running VMM that maps it keeps its mapping.)
    std::error_code removed_ec;
    std::filesystem::remove_all(_layout.snapshot_dir(instance.id), removed_ec);
    if (removed_ec) {
        (void)update_record(instance, [](InstanceRecord& r) { r.pending_op.clear(); });
        return internal("remove the old snapshot: " + removed_ec.message());
    }
    auto roll_back = [&](bool resume) {
        if (resume) {
            if (VmmControl(_layout.control_socket(instance.id)).resume()) {
                std::lock_guard lock(instance.mutex);
                instance.paused = false;
            }
        }
        (void)update_record(instance, [](InstanceRecord& r) { r.pending_op.clear(); });
    };
    VmmControl control(_layout.control_socket(instance.id));
    bool we_paused = !view.facts.vmm_paused;
    if (we_paused) {
        auto paused = control.pause();
        if (!paused) {
            roll_back(false);
            return fail(paused.error().context("standby"));
        }
        std::lock_guard lock(instance.mutex);
        instance.paused = true;
    }
    auto staged = stage_snapshot_dir(_layout, instance.id);
    Result<void> written =
        staged ? control.snapshot(*staged + "/state", *staged + "/memory", _config.snapshot_timeout_ms, diff)
               : Result<void>(tl::unexpected(staged.error()));
    if (written) written = install_snapshot(_layout, instance.id, *staged);
    if (!written) {
        std::error_code ec;
        if (staged) std::filesystem::remove_all(*staged, ec);
        roll_back(we_paused);
        return fail(written.error().context("standby"));
    }
    terminate_vmm(instance, 0);
    TRY(update_record(instance, [](InstanceRecord& r) {
        r.state = State::standby;
        r.pending_op.clear();
        r.vmm_pid = 0;
    }));
    return {};
}

OpResult<InstanceView> Manager::restore(const std::string& ref) {
    return timed("restore", [&]() -> OpResult<InstanceView> {
        auto found = TRY(lookup(ref));
        auto lock = TRY(OpLock::acquire(found, _config.lock_timeout_ms));
        TRY(do_restore(lock.instance()));
        return view_of(lock.instance(), _layout);
    });
}

OpResult<void> Manager::do_restore(Instance& instance) {
    TRY(refuse_template_source(instance, "restore"));
    InstanceView view = view_of(instance, _layout);
    if (view.state != State::standby)
        return wrong_state("instance " + view.record.name + " is " + state_text(view.state) +
                           "; restore needs it in Standby");
    TRY(update_record(instance, [](InstanceRecord& r) { r.pending_op = "restore"; }));
    remove_sockets(instance.id);
    // A template fork's memory is the template's file: always map it
    // MAP_PRIVATE (backend file), whatever the daemon's default, so forks
    // share its page cache and never write it.
    std::string backend = memory_is_link(_layout, instance.id) ? "file" : _config.restore_backend;
    return spawn_vmm(instance, restore_args(_layout, view.record, backend), "restore", backend);
}

OpResult<InstanceView> Manager::pause(const std::string& ref) {
    return timed("pause", [&]() -> OpResult<InstanceView> {
        auto found = TRY(lookup(ref));
        auto lock = TRY(OpLock::acquire(found, _config.lock_timeout_ms));
        Instance& instance = lock.instance();
        InstanceView view = view_of(instance, _layout);
        if (view.state != State::running)
            return wrong_state("instance " + view.record.name + " is " + state_text(view.state) + ", not Running");
        TRY(VmmControl(_layout.control_socket(instance.id)).pause());
        {
            std::lock_guard guard(instance.mutex);
            instance.paused = true;
        }
        TRY(update_record(instance, [](InstanceRecord& r) { r.state = State::paused; }));
        return view_of(instance, _layout);
    });
}

OpResult<InstanceView> Manager::resume(const std::string& ref) {
    return timed("resume", [&]() -> OpResult<InstanceView> {
        auto found = TRY(lookup(ref));
        auto lock = TRY(OpLock::acquire(found, _config.lock_timeout_ms));
        Instance& instance = lock.instance();
        InstanceView view = view_of(instance, _layout);
        if (view.state != State::paused)
            return wrong_state("instance " + view.record.name + " is " + state_text(view.state) + ", not Paused");
        TRY(VmmControl(_layout.control_socket(instance.id)).resume());
        {
            std::lock_guard guard(instance.mutex);
            instance.paused = false;
        }
        TRY(update_record(instance, [](InstanceRecord& r) { r.state = State::running; }));
        return view_of(instance, _layout);
    });
}

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
    auto instance = _registry.find(id);
    if (!instance) return;
    std::lock_guard lock(instance->mutex);
    if (instance->vmm != vmm || instance->expect_exit || instance->removed) return;
    instance->vmm.reset();
    instance->paused = false;
    ExitStatus status = vmm->exit_status().value_or(ExitStatus{});
    InstanceRecord next = instance->record;
    std::string reason = status.describe();
    std::string line = last_log_line(_layout.vmm_log(id));
    if (!line.empty()) reason += ": " + line;
    next.last_exit = ExitInfo{status.code, status.signal, reason, now_rfc3339()};
    next.state = status.code == 0 ? State::stopped : State::failed;
    next.vmm_pid = 0;
    next.updated_at = now_rfc3339();
    if (save_record(_layout.metadata(id), next)) instance->record = std::move(next);
    remove_sockets(id);
}

} // namespace brood::manager
