// Templates and forks: a fork is a copy of a Standby instance's directory;
// a template's forks link to the template's canonical memory file instead of
// copying it (docs/manager.md, "Forks and templates").
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/defer.hpp"
#include "manager/atomic_file.hpp"
#include "manager/dir_copy.hpp"
#include "manager/instance_lock.hpp"
#include "manager/manager.hpp"
#include "manager/manager_inline.hpp"
#include "manager/names.hpp"

namespace brood::manager {

namespace fs = std::filesystem;

namespace {

const char* kMemoryRel = "snapshots/snapshot-latest/memory";

bool is_symlink(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

} // namespace

OpResult<void> Manager::refuse_template_source(const Instance& instance, const std::string& op) const {
    auto t = _templates.find_by_source(instance.id);
    if (!t) return {};
    return in_use("cannot " + op + " instance " + instance.id + ": it is the source of template " + t->name +
                  " and forks share its memory file");
}

OpResult<TemplateRecord> Manager::create_template(const TemplateSpec& spec) {
    return timed("create_template", [&]() -> OpResult<TemplateRecord> {
        if (!valid_name(spec.name)) return bad_request("invalid template name \"" + spec.name + "\": " + name_rule());
        auto source = TRY(lookup(spec.source));
        auto lock = TRY(OpLock::acquire(source, _config.lock_timeout_ms));
        InstanceView view = view_of(*source, _layout);
        if (view.state != State::standby)
            return wrong_state("instance " + view.record.name + " is " + std::string(to_string(view.state)) +
                               "; only a Standby instance can become a template");
        if (is_symlink(_layout.snapshot_memory(source->id)))
            return wrong_state("instance " + view.record.name + " shares a template's memory; standby it after a "
                               "restore to give it its own before promoting it");
        TemplateRecord record;
        record.id = new_id();
        record.name = spec.name;
        record.source_instance_id = source->id;
        record.created_at = record.last_used_at = now_rfc3339();
        record.tags = spec.tags;
        record.memory_mib = view.record.memory_mib;
        record.vcpus = view.record.vcpus;
        record.kernel = view.record.kernel;
        record.memory_path = fs::canonical(_layout.snapshot_memory(source->id)).string();
        return _templates.create(record);
    });
}

OpResult<TemplateRecord> Manager::get_template(const std::string& ref) const {
    auto t = _templates.find(ref);
    if (!t) return not_found("no template \"" + ref + "\"");
    return *t;
}

OpResult<void> Manager::delete_template(const std::string& ref) {
    return timed("delete_template", [&]() -> OpResult<void> {
        auto t = TRY(get_template(ref));
        // Under the source's lock, like every fork of this template.
        if (auto source = _registry.find(t.source_instance_id)) {
            auto lock = TRY(OpLock::acquire(source, _config.lock_timeout_ms));
            return _templates.remove(t.id);
        }
        return _templates.remove(t.id);
    });
}

OpResult<std::vector<InstanceView>> Manager::fork_instance(const std::string& source_ref, const ForkSpec& spec) {
    return timed("fork", [&]() -> OpResult<std::vector<InstanceView>> {
        auto source = TRY(lookup(source_ref));
        auto lock = TRY(OpLock::acquire(source, _config.lock_timeout_ms));
        return do_fork(*source, spec, std::nullopt);
    });
}

OpResult<std::vector<InstanceView>> Manager::fork_template(const std::string& template_ref, const ForkSpec& spec) {
    return timed("fork", [&]() -> OpResult<std::vector<InstanceView>> {
        // Resolve the template to its source before any lock: the lock held is the source's.
        auto t = TRY(get_template(template_ref));
        auto source = _registry.find(t.source_instance_id);
        if (!source) return internal("template " + t.name + " lost its source instance " + t.source_instance_id);
        auto lock = TRY(OpLock::acquire(source, _config.lock_timeout_ms));
        auto current = _templates.find(t.id);
        if (!current) return not_found("template " + t.name + " was deleted");
        return do_fork(*source, spec, current);
    });
}

OpResult<std::vector<InstanceView>> Manager::do_fork(Instance& source, const ForkSpec& spec,
                                                    const std::optional<TemplateRecord>& from_template) {
    if (spec.names.empty()) return bad_request("no fork names");
    if (spec.target_state != State::running && spec.target_state != State::standby)
        return bad_request("target_state must be Running or Standby");
    for (const auto& name : spec.names)
        if (!valid_name(name) || looks_like_id(name)) return bad_request("invalid name \"" + name + "\": " + name_rule());
    InstanceView view = view_of(source, _layout);
    bool restore_source = false;
    if (view.state == State::running && spec.from_running && !from_template) {
        TRY(do_standby(source));
        restore_source = true;
    } else if (view.state != State::standby) {
        return wrong_state("instance " + view.record.name + " is " + std::string(to_string(view.state)) +
                           "; forks are made from Standby (or pass from_running)");
    }
    std::vector<InstanceView> forks;
    OpResult<void> outcome;
    InstanceRecord source_record = view_of(source, _layout).record;
    for (const auto& name : spec.names) {
        auto fork = fork_one(source_record, name, spec.target_state, from_template);
        if (!fork) {
            outcome = tl::unexpected(fork.error());
            break;
        }
        forks.push_back(*fork);
    }
    if (restore_source) {
        auto restored = do_restore(source);
        if (!restored && outcome) outcome = tl::unexpected(restored.error());
    }
    if (!outcome) return tl::unexpected(outcome.error()); // forks made so far stay, each complete
    return forks;
}

OpResult<InstanceView> Manager::fork_one(const InstanceRecord& source, const std::string& name, State target,
                                         const std::optional<TemplateRecord>& from_template) {
    InstanceRecord record;
    record.id = new_id();
    record.name = name;
    record.kernel = source.kernel;
    record.initrd = source.initrd;
    record.cmdline = source.cmdline;
    record.memory_mib = source.memory_mib;
    record.vcpus = source.vcpus;
    record.created_at = record.updated_at = now_rfc3339();
    record.state = State::standby;
    record.source_instance_id = source.id;
    // A fork of a fork that still links a template's memory counts for that template too.
    if (from_template)
        record.template_id = from_template->id;
    else if (is_symlink(_layout.snapshot_memory(source.id)))
        record.template_id = source.template_id;

    TRY(_registry.reserve_name(name));
    std::string staging = _layout.creating_dir(record.id);
    bool counted = false;
    std::shared_ptr<Instance> inserted;
    // Held from before the fork is visible until after a failed fork is
    // undone, so no other operation can touch a half-made fork.
    std::optional<OpLock> fork_lock;
    // Every failure from here on removes the fork's directory and undoes the count.
    Defer cleanup([&] {
        std::error_code ec;
        fs::remove_all(staging, ec);
        fs::remove_all(_layout.instance_dir(record.id), ec);
        if (inserted) {
            std::lock_guard lock(inserted->mutex);
            inserted->removed = true;
        }
        _registry.erase(record.id);
        _registry.release_name(name);
        if (counted) (void)_templates.add_forks(record.template_id, -1);
    });
    std::error_code ec;
    fs::create_directories(staging + "/logs", ec);
    if (ec) return internal("create " + staging + ": " + ec.message());
    CopyOptions options;
    if (from_template) options.skip_rel_paths.insert(kMemoryRel);
    TRY(copy_instance_dir(_layout.instance_dir(source.id), staging, options));
    if (from_template && ::symlink(from_template->memory_path.c_str(), (staging + "/" + kMemoryRel).c_str()) != 0)
        return fail(Error::from_errno("link the template's memory file"));
    TRY(save_record(staging + "/metadata.json", record));
    TRY(rename_durable(staging, _layout.instance_dir(record.id)));
    if (!record.template_id.empty()) {
        TRY(_templates.add_forks(record.template_id, +1));
        counted = true;
    }
    auto instance = std::make_shared<Instance>(record);
    fork_lock.emplace(TRY(OpLock::acquire(instance, _config.lock_timeout_ms)));
    inserted = instance;
    _registry.insert(inserted);
    if (target == State::running) TRY(do_restore(*inserted));
    cleanup.cancel();
    return view_of(*inserted, _layout);
}

} // namespace brood::manager
