#include "manager/lifecycle.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "manager/atomic_file.hpp"
#include "manager/disk_record.hpp"
#include "manager/names.hpp"
#include "manager/snapshot_files.hpp"
#include "manager/vmm_args.hpp"
#include "manager/vmm_control.hpp"
#include "manager/vmm_process.hpp"

namespace brood::manager {

namespace fs = std::filesystem;

namespace {

std::string state_text(State s) { return std::string(to_string(s)); }

// brood-vmm's virtio-mmio slots.
constexpr size_t kMaxDisks = 6;

} // namespace

OpResult<void> Lifecycle::start(Instance& instance) {
    // The template guard comes first: it is the reason that matters.
    TRY(_templates.refuse_source(instance, "start"));
    InstanceView view = view_of(instance, _state.layout);
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
    TRY(_state.update_record(instance, [&](InstanceRecord& r) {
        r.pending_op = PendingOp::start;
        released = std::exchange(r.template_id, "");
    }));
    _vmms.remove_sockets(instance.id);
    auto dropped = forget_snapshot(instance, released);
    if (!dropped) {
        (void)_state.update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::none; });
        return fail(dropped.error().context("start"));
    }
    if (auto net = _network.ensure(view.record); !net) {
        (void)_state.update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::none; });
        return tl::unexpected(net.error());
    }
    return spawn_vmm(instance, view.record, std::nullopt);
}

OpResult<void> Lifecycle::stop(Instance& instance, int timeout_ms) {
    InstanceView view = view_of(instance, _state.layout);
    if (view.state != State::running && view.state != State::paused)
        return wrong_state("instance " + view.record.name + " is " + state_text(view.state) + ", not Running");
    TRY(_state.update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::stop; }));
    std::shared_ptr<VmmProcess> vmm;
    {
        std::lock_guard lock(instance.mutex);
        vmm = instance.vmm;
    }
    _vmms.terminate(instance, timeout_ms);
    std::optional<ExitStatus> status = vmm ? vmm->exit_status() : std::nullopt;
    // A Stopped instance has no snapshot and names no template (docs/api.md,
    // "States"): the record says so first, then the files follow.
    std::string released;
    TRY(_state.update_record(instance, [&](InstanceRecord& r) {
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

Result<void> Lifecycle::forget_snapshot(Instance& instance, const std::string& released_template) {
    auto dropped = drop_snapshot(_state.layout, instance.id);
    // The count follows the record, which no longer names the template,
    // even if the files could not all be removed (a Stopped instance's
    // leftover snapshot is never used, and the next start, delete or
    // daemon start removes it).
    if (!released_template.empty()) (void)_state.templates.add_forks(released_template, -1);
    return dropped;
}

OpResult<void> Lifecycle::standby(Instance& instance) {
    // The VMM before the state: should the supervisor record its death
    // while this runs, the steps below still know which process to ask.
    std::shared_ptr<VmmProcess> vmm;
    {
        std::lock_guard lock(instance.mutex);
        vmm = instance.vmm;
    }
    InstanceView view = view_of(instance, _state.layout);
    if (view.state != State::running && view.state != State::paused)
        return wrong_state("instance " + view.record.name + " is " + state_text(view.state) +
                           "; standby needs it Running or Paused");
    // A template fork maps the template's file (backend file): its snapshot
    // is a diff, written to its own new memory file, which replaces the link.
    bool diff = memory_is_link(_state.layout, instance.id) && view.record.restore_backend == Backend::file;
    TRY(_state.update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::standby; }));
    // An older snapshot must go first: after a crash, a snapshot-latest must
    // mean "this standby completed", or a restart would roll the guest back.
    // (A running VMM that maps it keeps its mapping.)
    std::error_code removed_ec;
    std::filesystem::remove_all(_state.layout.snapshot_dir(instance.id), removed_ec);
    if (removed_ec) {
        (void)_state.update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::none; });
        return internal("remove the old snapshot: " + removed_ec.message());
    }
    // A control call failed: was it because the VMM is gone?
    auto died = [&] { return vmm && vmm->wait_exit(1'000); };
    auto roll_back = [&](bool resume) {
        if (resume) {
            if (VmmControl(_state.layout.control_socket(instance.id)).resume()) {
                std::lock_guard lock(instance.mutex);
                instance.paused = false;
            }
        }
        (void)_state.update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::none; });
    };
    VmmControl control(_state.layout.control_socket(instance.id));
    bool we_paused = !view.facts.vmm_paused;
    pid_t pid = vmm ? vmm->pid() : 0;
    if (we_paused) {
        _vmms.fault(VmmStep::standby_pause, instance, pid);
        auto paused = control.pause();
        if (!paused) {
            roll_back(false);
            if (died()) return tl::unexpected(_vmms.died_during(instance, vmm, "standby"));
            return fail(paused.error().context("standby"));
        }
        std::lock_guard lock(instance.mutex);
        instance.paused = true;
    }
    auto staged = stage_snapshot_dir(_state.layout, instance.id);
    if (staged) {
        auto handed = _vmms.jail().hand_over(view_of(instance, _state.layout).record, {_state.layout.snapshots_dir(instance.id), *staged});
        if (!handed) staged = tl::unexpected(handed.error());
    }
    if (staged) _vmms.fault(VmmStep::standby_snapshot, instance, pid);
    Result<void> written =
        staged ? control.snapshot(*staged + "/state", *staged + "/memory", _state.config.snapshot_timeout_ms, diff)
               : Result<void>(tl::unexpected(staged.error()));
    // Once the VMM has written the snapshot it is no longer needed: a death
    // from here on does not fail the standby.
    if (written) _vmms.fault(VmmStep::standby_install, instance, pid);
    bool snapshot_failed = !written;
    if (written) written = install_snapshot(_state.layout, instance.id, *staged);
    if (!written) {
        std::error_code ec;
        if (staged) std::filesystem::remove_all(*staged, ec);
        bool dead = snapshot_failed && died();
        roll_back(we_paused && !dead);
        if (dead) return tl::unexpected(_vmms.died_during(instance, vmm, "standby"));
        return fail(written.error().context("standby"));
    }
    _vmms.terminate(instance, 0);
    TRY(_state.update_record(instance, [](InstanceRecord& r) {
        r.state = State::standby;
        r.pending_op = PendingOp::none;
        r.vmm_pid = 0;
    }));
    return {};
}

OpResult<void> Lifecycle::restore(Instance& instance) {
    TRY(_templates.refuse_source(instance, "restore"));
    InstanceView view = view_of(instance, _state.layout);
    if (view.state != State::standby)
        return wrong_state("instance " + view.record.name + " is " + state_text(view.state) +
                           "; restore needs it in Standby");
    TRY(_network.ensure(view.record));
    TRY(_state.update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::restore; }));
    _vmms.remove_sockets(instance.id);
    // A template fork's memory is the template's file: always map it
    // MAP_PRIVATE (backend file), whatever the daemon's default, so forks
    // share its page cache and never write it.
    Backend backend = memory_is_link(_state.layout, instance.id) ? Backend::file : _state.config.restore_backend;
    return spawn_vmm(instance, view.record, backend);
}

OpResult<void> Lifecycle::spawn_vmm(Instance& instance, const InstanceRecord& record, std::optional<Backend> backend) {
    const std::string op = backend ? "restore" : "start";
    VmmImageFiles files(_state.images, _state.layout, kFirstPassedFd);
    auto args = backend ? restore_args(_state.layout, record, *backend, files.as_image_arg())
                        : boot_args(_state.layout, record, files.as_image_arg());
    if (!args) {
        (void)_state.update_record(instance, [](InstanceRecord& r) { r.pending_op = PendingOp::none; });
        return bad_request(op + " " + record.name + ": " + args.error().message());
    }
    return _vmms.spawn(instance, std::move(*args), op, backend, files.take());
}

OpResult<void> Lifecycle::pause(Instance& instance) { return set_paused(instance, true); }

OpResult<void> Lifecycle::resume(Instance& instance) { return set_paused(instance, false); }

OpResult<void> Lifecycle::set_paused(Instance& instance, bool paused) {
    std::shared_ptr<VmmProcess> vmm; // before the state, as in standby()
    {
        std::lock_guard lock(instance.mutex);
        vmm = instance.vmm;
    }
    InstanceView view = view_of(instance, _state.layout);
    const State from = paused ? State::running : State::paused;
    if (view.state != from)
        return wrong_state("instance " + view.record.name + " is " + state_text(view.state) + ", not " +
                           state_text(from));
    VmmControl control(_state.layout.control_socket(instance.id));
    if (auto done = paused ? control.pause() : control.resume(); !done) {
        if (vmm && vmm->wait_exit(1'000))
            return tl::unexpected(_vmms.died_during(instance, vmm, paused ? "pause" : "resume"));
        return fail(done.error());
    }
    {
        std::lock_guard guard(instance.mutex);
        instance.paused = paused;
    }
    TRY(_state.update_record(instance, [&](InstanceRecord& r) { r.state = paused ? State::paused : State::running; }));
    return {};
}

OpResult<InstanceView> Lifecycle::create(const CreateSpec& spec) {
    if (!valid_name(spec.name)) return bad_request("invalid name \"" + spec.name + "\": " + name_rule());
    if (looks_like_id(spec.name)) return bad_request("name \"" + spec.name + "\" looks like an instance id");
    if (spec.memory_mib < 16 || spec.memory_mib > _state.config.max_memory_mib)
        return bad_request("memory_mib must be between 16 and " + std::to_string(_state.config.max_memory_mib));
    if (spec.vcpus < 1 || spec.vcpus > _state.config.max_vcpus)
        return bad_request("vcpus must be between 1 and " + std::to_string(_state.config.max_vcpus));
    InstanceRecord record;
    record.kernel = TRY(_state.images.check("kernel", spec.kernel, false));
    if (!spec.initrd.empty()) record.initrd = TRY(_state.images.check("initrd", spec.initrd, false));
    if (spec.disks.size() > kMaxDisks)
        return bad_request("at most " + std::to_string(kMaxDisks) + " disks, got " + std::to_string(spec.disks.size()));
    for (size_t i = 0; i < spec.disks.size(); ++i) record.disks.push_back(TRY(check_disk(spec.disks[i], i, _state.images)));
    record.name = spec.name;
    record.cmdline = spec.cmdline;
    record.memory_mib = static_cast<uint32_t>(spec.memory_mib);
    record.vcpus = static_cast<uint32_t>(spec.vcpus);
    record.agent = spec.agent;
    record.id = new_id();
    record.created_at = record.updated_at = now_rfc3339();
    record.state = State::created;

    // Held until the instance is registered (or given up).
    auto admitted = TRY(_state.admit(1, record.memory_mib, false));
    TRY(_state.registry.reserve_name(spec.name));
    record.vsock_cid = _state.registry.reserve_cid();
    if (record.vsock_cid == 0) {
        _state.registry.release_name(spec.name);
        return internal("no vsock CID is left");
    }
    // Assemble the directory aside and rename it in: a crash leaves either
    // nothing or a complete instance (reconcile removes .creating-*).
    std::string staging = _state.layout.creating_dir(record.id);
    auto undo = [&] {
        std::error_code ignored;
        fs::remove_all(staging, ignored);
        _state.registry.release_name(spec.name);
        _state.registry.release_cid(record.vsock_cid);
        _network.detach(record);
    };
    if (spec.network_bridge) {
        if (auto attached = _network.attach(record, *spec.network_bridge); !attached) {
            _state.registry.release_name(spec.name);
            _state.registry.release_cid(record.vsock_cid);
            return tl::unexpected(attached.error());
        }
    }
    std::error_code ec;
    fs::create_directories(staging + "/logs", ec);
    if (ec) {
        undo();
        return internal("create " + staging + ": " + ec.message());
    }
    auto saved = save_record(staging + "/metadata.json", record);
    if (!saved) {
        undo();
        return fail(saved.error());
    }
    auto renamed = rename_durable(staging, _state.layout.instance_dir(record.id));
    if (!renamed) {
        undo();
        return fail(renamed.error());
    }
    auto instance = std::make_shared<Instance>(record);
    _state.registry.insert(instance);
    return view_of(*instance, _state.layout);
}

OpResult<void> Lifecycle::remove(const std::shared_ptr<Instance>& instance) {
    // A template's source holds the memory file its forks map. Without
    // forks, deleting the source deletes its template too.
    auto t = _state.templates.find_by_source(instance->id);
    if (t && t->fork_count > 0)
        return in_use("instance " + view_of(*instance, _state.layout).record.name +
                      " is in use as the source of template " + t->name + ", which has " +
                      std::to_string(t->fork_count) + (t->fork_count == 1 ? " live fork" : " live forks") +
                      "; delete them first");
    // Mark the intent first: a daemon killed from here on finishes the delete.
    TRY(_state.update_record(*instance, [](InstanceRecord& r) { r.pending_op = PendingOp::remove; }));
    _vmms.terminate(*instance, 0);
    std::string doomed = _state.layout.deleting_dir(instance->id);
    TRY(rename_durable(_state.layout.instance_dir(instance->id), doomed));
    {
        std::lock_guard lock(instance->mutex);
        instance->removed = true;
    }
    _state.registry.erase(instance->id);
    std::string template_id;
    {
        std::lock_guard lock(instance->mutex);
        template_id = instance->record.template_id;
    }
    if (!template_id.empty()) (void)_state.templates.add_forks(template_id, -1);
    {
        std::lock_guard lock(instance->mutex);
        _network.detach(instance->record);
    }
    // A crash before this line leaves a template without its source, which
    // the next start removes (reconcile).
    if (t) TRY(_state.templates.remove_of_source(instance->id));
    std::error_code ec;
    fs::remove_all(doomed, ec);
    if (ec) return internal("remove " + doomed + ": " + ec.message());
    return {};
}

} // namespace brood::manager
