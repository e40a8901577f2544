// Instance lifecycle operations: start, stop, standby, restore, pause, resume.
#include <signal.h>

#include <filesystem>
#include <utility>

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
    case ECHILD: return OpError(ErrorKind::vmm_died, "vmm_died", e.message()); // exited before it was ready
    default: return OpError(e);
    }
}

} // namespace

OpResult<InstanceView> Manager::start(const std::string& ref) {
    return timed("start", ref, [&]() -> OpResult<InstanceView> {
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
    // A cold boot makes any earlier standby snapshot meaningless: it is
    // dropped, and with it the template a Failed template fork still named.
    std::string released;
    TRY(update_record(instance, [&](InstanceRecord& r) {
        r.pending_op = PendingOp::start;
        released = std::exchange(r.template_id, "");
    }));
    remove_sockets(instance.id);
    auto dropped = forget_snapshot(instance, released);
    if (!dropped) {
        (void)update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::none; });
        return fail(dropped.error().context("start"));
    }
    if (auto net = ensure_network(view.record); !net) {
        (void)update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::none; });
        return tl::unexpected(net.error());
    }
    return spawn_vmm(instance, boot_args(_layout, view.record), "start", std::nullopt);
}

OpResult<void> Manager::spawn_vmm(Instance& instance, std::vector<std::string> args, const std::string& op,
                                  std::optional<Backend> backend) {
    {
        const InstanceRecord record = view_of(instance, _layout).record;
        auto boxed = vmm_jail().args(_layout, record);
        args.insert(args.end(), boxed.begin(), boxed.end());
        // What the VMM writes once it runs as its own uid.
        if (auto ok = vmm_jail().hand_over(record, {_layout.instance_dir(instance.id), _layout.logs_dir(instance.id)}); !ok)
            return fail(ok.error().context(op));
    }
    SpawnSpec spec{_config.vmm_binary, std::move(args), _layout.vmm_log(instance.id), _config.ready_timeout_ms};
    std::function<void(pid_t)> on_spawned;
    if (_config.vmm_fault) on_spawned = [&](pid_t pid) { vmm_fault(VmmStep::spawned, instance, pid); };
    auto spawned = VmmProcess::spawn(spec, on_spawned);
    if (!spawned) {
        OpError error = classify_spawn_error(spawned.error().context(op + " " + view_of(instance, _layout).record.name));
        // A VMM that died before it was ready leaves the instance Failed;
        // one that refused its input or never got ready leaves it as it was.
        bool died = error.kind == ErrorKind::vmm_died;
        auto rolled_back = update_record(instance, [&](InstanceRecord& r) {
            r.pending_op = PendingOp::none;
            r.last_exit = ExitInfo{std::nullopt, std::nullopt, op + " failed: " + spawned.error().message(),
                                   now_rfc3339()};
            if (died) r.state = State::failed;
        });
        remove_sockets(instance.id);
        if (!rolled_back) return fail(rolled_back.error());
        return tl::unexpected(error);
    }
    auto vmm = *spawned;
    vmm_fault(VmmStep::ready, instance, vmm->pid());
    {
        std::lock_guard lock(instance.mutex);
        instance.vmm = vmm;
        instance.paused = false;
        instance.expect_exit = false;
    }
    auto committed = update_record(instance, [&](InstanceRecord& r) {
        r.state = State::running;
        r.pending_op = PendingOp::none;
        r.vmm_pid = vmm->pid();
        r.last_exit.reset();
        if (op == "restore") r.restore_backend = backend;
    });
    if (!committed) {
        terminate_vmm(instance, 0);
        return fail(committed.error());
    }
    _supervisor->watch(instance.id, vmm);
    // Dead before the answer: the caller learns it now, not from a later GET.
    if (vmm->poll_exit()) return tl::unexpected(vmm_died_during(instance, vmm, op));
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
    return timed("stop", ref, [&]() -> OpResult<InstanceView> {
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
    TRY(update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::stop; }));
    std::shared_ptr<VmmProcess> vmm;
    {
        std::lock_guard lock(instance.mutex);
        vmm = instance.vmm;
    }
    terminate_vmm(instance, timeout_ms);
    std::optional<ExitStatus> status = vmm ? vmm->exit_status() : std::nullopt;
    // A Stopped instance has no snapshot and names no template (docs/api.md,
    // "States"): the record says so first, then the files follow.
    std::string released;
    TRY(update_record(instance, [&](InstanceRecord& r) {
        r.state = State::stopped;
        r.pending_op = PendingOp::none;
        r.vmm_pid = 0;
        released = std::exchange(r.template_id, "");
        ExitInfo e{std::nullopt, std::nullopt, "stopped by request", now_rfc3339()};
        if (status) {
            e.exit_code = status->code;
            e.signal = status->signal;
        }
        r.last_exit = e;
    }));
    if (auto dropped = forget_snapshot(instance, released); !dropped) return fail(dropped.error().context("stop"));
    return {};
}

Result<void> Manager::forget_snapshot(Instance& instance, const std::string& released_template) {
    auto dropped = drop_snapshot(_layout, instance.id);
    // The count follows the record, which no longer names the template,
    // even if the files could not all be removed (a Stopped instance's
    // leftover snapshot is never used, and the next start, delete or
    // daemon start removes it).
    if (!released_template.empty()) (void)_templates.add_forks(released_template, -1);
    return dropped;
}

OpResult<InstanceView> Manager::standby(const std::string& ref) {
    return timed("standby", ref, [&]() -> OpResult<InstanceView> {
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
    bool diff = memory_is_link(_layout, instance.id) && view.record.restore_backend == Backend::file;
    TRY(update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::standby; }));
    // An older snapshot must go first: after a crash, a snapshot-latest must
    // mean "this standby completed", or a restart would roll the guest back.
    // (A running VMM that maps it keeps its mapping.)
    std::error_code removed_ec;
    std::filesystem::remove_all(_layout.snapshot_dir(instance.id), removed_ec);
    if (removed_ec) {
        (void)update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::none; });
        return internal("remove the old snapshot: " + removed_ec.message());
    }
    std::shared_ptr<VmmProcess> vmm;
    {
        std::lock_guard lock(instance.mutex);
        vmm = instance.vmm;
    }
    // A control call failed: was it because the VMM is gone?
    auto died = [&] { return vmm && vmm->wait_exit(1'000); };
    auto roll_back = [&](bool resume) {
        if (resume) {
            if (VmmControl(_layout.control_socket(instance.id)).resume()) {
                std::lock_guard lock(instance.mutex);
                instance.paused = false;
            }
        }
        (void)update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::none; });
    };
    VmmControl control(_layout.control_socket(instance.id));
    bool we_paused = !view.facts.vmm_paused;
    pid_t pid = vmm ? vmm->pid() : 0;
    if (we_paused) {
        vmm_fault(VmmStep::standby_pause, instance, pid);
        auto paused = control.pause();
        if (!paused) {
            roll_back(false);
            if (died()) return tl::unexpected(vmm_died_during(instance, vmm, "standby"));
            return fail(paused.error().context("standby"));
        }
        std::lock_guard lock(instance.mutex);
        instance.paused = true;
    }
    auto staged = stage_snapshot_dir(_layout, instance.id);
    if (staged) {
        auto handed = vmm_jail().hand_over(view_of(instance, _layout).record, {_layout.snapshots_dir(instance.id), *staged});
        if (!handed) staged = tl::unexpected(handed.error());
    }
    if (staged) vmm_fault(VmmStep::standby_snapshot, instance, pid);
    Result<void> written =
        staged ? control.snapshot(*staged + "/state", *staged + "/memory", _config.snapshot_timeout_ms, diff)
               : Result<void>(tl::unexpected(staged.error()));
    // Once the VMM has written the snapshot it is no longer needed: a death
    // from here on does not fail the standby.
    if (written) vmm_fault(VmmStep::standby_install, instance, pid);
    bool snapshot_failed = !written;
    if (written) written = install_snapshot(_layout, instance.id, *staged);
    if (!written) {
        std::error_code ec;
        if (staged) std::filesystem::remove_all(*staged, ec);
        bool dead = snapshot_failed && died();
        roll_back(we_paused && !dead);
        if (dead) return tl::unexpected(vmm_died_during(instance, vmm, "standby"));
        return fail(written.error().context("standby"));
    }
    terminate_vmm(instance, 0);
    TRY(update_record(instance, [](InstanceRecord& r) {
        r.state = State::standby;
        r.pending_op = PendingOp::none;
        r.vmm_pid = 0;
    }));
    return {};
}

OpResult<InstanceView> Manager::restore(const std::string& ref) {
    return timed("restore", ref, [&]() -> OpResult<InstanceView> {
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
    TRY(ensure_network(view.record));
    TRY(update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::restore; }));
    remove_sockets(instance.id);
    // A template fork's memory is the template's file: always map it
    // MAP_PRIVATE (backend file), whatever the daemon's default, so forks
    // share its page cache and never write it.
    Backend backend = memory_is_link(_layout, instance.id) ? Backend::file : _config.restore_backend;
    return spawn_vmm(instance, restore_args(_layout, view.record, backend), "restore", backend);
}

OpResult<InstanceView> Manager::pause(const std::string& ref) {
    return timed("pause", ref, [&]() -> OpResult<InstanceView> {
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
    return timed("resume", ref, [&]() -> OpResult<InstanceView> {
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

} // namespace brood::manager
