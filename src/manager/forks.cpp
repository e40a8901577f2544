#include "manager/forks.hpp"

#include <unistd.h>

#include <filesystem>

#include <spdlog/spdlog.h>

#include "common/defer.hpp"
#include "manager/atomic_file.hpp"
#include "manager/dir_copy.hpp"
#include "manager/disk_record.hpp"
#include "manager/fan_out.hpp"
#include "manager/names.hpp"

namespace brood::manager {

namespace fs = std::filesystem;

namespace {

const char* kMemoryRel = "snapshots/snapshot-latest/memory";

std::string state_text(State s) { return std::string(to_string(s)); }

} // namespace

void Forks::discard_dir(const std::string& id) {
    // Renamed first, as a delete does: the directory is whole under its name
    // or gone, and a crash during the removal leaves a .deleting- directory
    // that the next start removes.
    std::string doomed = _state.layout.deleting_dir(id);
    std::error_code ec;
    for (const std::string& dir : {_state.layout.instance_dir(id), _state.layout.creating_dir(id)}) {
        if (!fs::exists(fs::symlink_status(dir, ec))) continue;
        if (!rename_durable(dir, doomed)) continue; // left whole; the next start deals with it
        fs::remove_all(doomed, ec);
    }
}

Result<void> Forks::fault(ForkStep step, const std::string& name) const {
    if (!_state.config.fork_fault) return {};
    auto injected = _state.config.fork_fault(step, name);
    if (!injected) return fail(std::move(injected.error()).context(std::string(to_string(step))));
    return {};
}

OpResult<ForkPlan> Forks::make_plan(Instance& source, const ForkRequest& request,
                                      const std::optional<TemplateRecord>& from_template, bool& restore_source) {
    if (request.names.empty()) return bad_request("no fork names");
    InstanceView view = view_of(source, _state.layout);
    const std::string& name = view.record.name;
    ForkPlan plan;
    if (from_template) {
        // Forks map the template's file: its source must not run, and its
        // snapshot must be the one the template stands for.
        if (view.state != State::standby)
            return wrong_state("template " + from_template->name + " cannot be forked: its source instance " + name +
                               " is " + state_text(view.state) + ", not Standby; standby " + name +
                               " to capture its state again");
        plan.target = request.target_state.value_or(State::running);
        plan.copy_snapshot = plan.target != State::stopped;
        // A fork to Stopped gets no snapshot: like any Stopped instance it
        // names no template and is not counted (it boots fresh).
        if (plan.copy_snapshot) {
            plan.template_id = from_template->id;
            plan.link_memory_to = from_template->memory_path;
        }
        plan.source = view.record;
        return plan;
    }
    switch (view.state) {
    case State::standby:
        plan.target = request.target_state.value_or(State::standby);
        break;
    case State::stopped:
        plan.target = request.target_state.value_or(State::stopped);
        if (plan.target == State::standby)
            return wrong_state("instance " + name + " is Stopped and has no snapshot; fork it to Stopped or Running");
        break;
    case State::running:
        if (!request.from_running)
            return wrong_state("instance " + name + " is Running; pass from_running to fork it (it is put in "
                               "standby, forked and restored)");
        plan.target = request.target_state.value_or(State::running);
        TRY(_lifecycle.standby(source));
        restore_source = true;
        break;
    default:
        return wrong_state("instance " + name + " is " + state_text(view.state) +
                           "; forks are made from Standby, Stopped or (with from_running) Running instances");
    }
    // Only a Standby source (or a Running one, now in Standby) has a
    // snapshot: a Stopped instance never has one.
    InstanceView now = view_of(source, _state.layout);
    plan.source = now.record;
    plan.copy_snapshot = plan.target != State::stopped && now.state == State::standby;
    // A fork of a fork that still links a template's memory links it too,
    // so it counts for that template.
    if (plan.copy_snapshot && memory_is_link(_state.layout, source.id))
        plan.template_id = plan.source.template_id;
    return plan;
}

OpResult<ForkOutcome> Forks::fork(Instance& source, const ForkRequest& request,
                                       const std::optional<TemplateRecord>& from_template,
                                       const ForkProgress& progress) {
    // A taken name fails a single instance fork before its source is touched
    // (from_running would otherwise standby and restore it for nothing).
    if (!from_template && request.names.size() == 1 && _state.registry.find(request.names[0]))
        return name_taken("name \"" + request.names[0] + "\" is already taken");
    bool restore_source = false;
    // The whole request is admitted, or none of it is made, before the
    // source is touched. Forks that map a template's memory (a template's,
    // or a fork's that still links it) cost less; forks to Stopped boot
    // fresh and cost their whole memory.
    bool to_stopped = request.target_state == State::stopped;
    bool shares = !to_stopped && (from_template || memory_is_link(_state.layout, source.id));
    auto admitted = TRY(_state.admit(request.names.size(), view_of(source, _state.layout).record.memory_mib, shares));
    ForkPlan plan = TRY(make_plan(source, request, from_template, restore_source));
    ForkOutcome outcome =
        fork_many(plan, request.names, request.concurrency.value_or(_state.config.fork_concurrency), progress);
    if (restore_source) {
        // Both sides are reported: the fork stays (it is whole) when only
        // the source's restore fails, and the source stays in Standby.
        if (auto restored = _lifecycle.restore(source); !restored) {
            OpError e = restored.error();
            // Its snapshot is intact unless its VMM died (it is then Failed).
            e.message = "restore the source " + plan.source.name + " after forking" +
                        (e.kind == ErrorKind::vmm_died ? "" : " (it stays in Standby)") + ": " + e.message;
            outcome.errors.push_back({plan.source.name, e});
        }
    }
    return outcome;
}

ForkOutcome Forks::fork_many(const ForkPlan& plan, const std::vector<std::string>& names, int concurrency,
                               const ForkProgress& progress) {
    std::vector<std::optional<OpResult<InstanceView>>> results(names.size());
    run_parallel(names.size(), concurrency, [&](size_t i) {
        results[i] = fork_one(plan, names[i]);
        if (!progress) return;
        try {
            progress(names[i], *results[i]);
        } catch (const std::exception& e) {
            // The fork stands; only its report is lost (jobs must not throw).
            spdlog::error("fork {}: reporting its progress failed: {}", names[i], e.what());
        }
    });
    ForkOutcome outcome;
    for (size_t i = 0; i < names.size(); ++i) {
        if (*results[i])
            outcome.instances.push_back(**results[i]);
        else
            outcome.errors.push_back({names[i], results[i]->error()});
    }
    return outcome;
}

OpResult<InstanceView> Forks::fork_one(const ForkPlan& plan, const std::string& name) {
    const InstanceRecord& source = plan.source;
    InstanceRecord record;
    record.id = new_id();
    record.name = name;
    record.kernel = source.kernel;
    record.initrd = source.initrd;
    record.cmdline = source.cmdline;
    record.memory_mib = source.memory_mib;
    record.vcpus = source.vcpus;
    record.agent = source.agent;
    record.disks = source.disks;
    record.created_at = record.updated_at = now_rfc3339();
    record.state = plan.copy_snapshot ? State::standby : State::stopped;
    record.source_instance_id = source.id;
    record.template_id = plan.template_id;

    TRY(fault(ForkStep::reserve_name, name));
    TRY(_state.registry.reserve_name(name));
    record.vsock_cid = _state.registry.reserve_cid();
    if (record.vsock_cid == 0) {
        _state.registry.release_name(name);
        return internal("no vsock CID is left");
    }
    std::string staging = _state.layout.creating_dir(record.id);
    bool counted = false;
    auto instance = std::make_shared<Instance>(record);
    // Every failure from here on removes the fork's directory and undoes the
    // count; the fork is only registered (visible) once it is complete.
    Defer cleanup([&] {
        _vmms.terminate(*instance, 0);
        discard_dir(record.id);
        _state.registry.release_name(name);
        _state.registry.release_cid(record.vsock_cid);
        _network.detach(record);
        if (counted) (void)_state.templates.add_forks(record.template_id, -1);
    });
    TRY(fault(ForkStep::make_staging, name));
    std::error_code ec;
    fs::create_directories(staging + "/logs", ec);
    if (ec) return internal("create " + staging + ": " + ec.message());
    CopyOptions options;
    if (!plan.copy_snapshot) options.skip_rel_paths.insert("snapshots");
    if (!plan.link_memory_to.empty()) options.skip_rel_paths.insert(kMemoryRel);
    options.skip_rel_paths.insert("disks"); // each fork gets its own below
    TRY(fault(ForkStep::copy_dir, name));
    TRY(copy_instance_dir(_state.layout.instance_dir(source.id), staging, options));
    // A template's forks share its disks as read-only bases; other forks copy them.
    record.disks = TRY(fork_disks(source.disks, staging, _state.layout.instance_dir(record.id), !plan.template_id.empty()));
    {
        std::lock_guard lock(instance->mutex);
        instance->record.disks = record.disks;
    }
    if (!plan.link_memory_to.empty()) {
        TRY(fault(ForkStep::link_memory, name));
        if (::symlink(plan.link_memory_to.c_str(), (staging + "/" + kMemoryRel).c_str()) != 0)
            return fail(Error::from_errno("link the template's memory file"));
    }
    // The fork's own NIC: its MAC, its address, its TAP.
    if (!source.bridge.empty()) {
        TRY(_network.attach(record, source.bridge));
        std::lock_guard lock(instance->mutex);
        instance->record = record;
    }
    TRY(fault(ForkStep::write_record, name));
    TRY(save_record(staging + "/metadata.json", record));
    // The copy is durable before its name is: a crash after the publish
    // never leaves a fork whose files were still in the page cache.
    TRY(fault(ForkStep::sync_files, name));
    TRY_CTX(sync_tree(staging), "sync the fork's files");
    TRY(fault(ForkStep::publish, name));
    TRY(rename_durable(staging, _state.layout.instance_dir(record.id)));
    if (!record.template_id.empty()) {
        // Counted before the cleanup guard is released: a failure from here
        // on brings the count back down.
        TRY(fault(ForkStep::count, name));
        TRY(_state.templates.add_forks(record.template_id, +1));
        counted = true;
    }
    if (plan.target == State::running) {
        TRY(fault(ForkStep::boot, name));
        if (plan.copy_snapshot)
            TRY(_lifecycle.restore(*instance));
        else
            TRY(_lifecycle.start(*instance));
        // A restored fork shares its RNG state with every other fork of the
        // snapshot until it takes fresh entropy: it is not Running before.
        if (plan.copy_snapshot && record.agent) {
            TRY(fault(ForkStep::reseed, name));
            TRY(_agent.give_fresh_entropy(*instance));
        }
    }
    TRY(fault(ForkStep::register_fork, name));
    _state.registry.insert(instance);
    cleanup.cancel();
    return view_of(*instance, _state.layout);
}

} // namespace brood::manager
