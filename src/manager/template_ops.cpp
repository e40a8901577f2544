// Templates: promote a Standby instance, look templates up, delete them,
// and the guard that keeps a template's source from running while forks
// map its memory file (docs/manager.md, "Forks and templates").

#include <filesystem>

#include "manager/instance_lock.hpp"
#include "manager/manager.hpp"
#include "manager/manager_inline.hpp"
#include "manager/names.hpp"

#ifndef BROOD_VERSION
#define BROOD_VERSION "0.0.0"
#endif

namespace brood::manager {

namespace fs = std::filesystem;

namespace {

std::string forks_text(uint64_t count) { return std::to_string(count) + (count == 1 ? " live fork" : " live forks"); }

} // namespace

OpResult<void> Manager::refuse_template_source(const Instance& instance, const std::string& op) const {
    auto t = _templates.find_by_source(instance.id);
    if (!t || t->fork_count == 0) return {};
    std::string name;
    {
        std::lock_guard lock(instance.mutex);
        name = instance.record.name;
    }
    return in_use("cannot " + op + " instance " + name + ": it is in use as the source of template " + t->name +
                  ", which has " + forks_text(t->fork_count) + " mapping its memory file; delete them first");
}

OpResult<TemplateRecord> Manager::create_template(const TemplateSpec& spec) {
    return timed("create_template", spec.source, [&]() -> OpResult<TemplateRecord> {
        if (!valid_name(spec.name)) return bad_request("invalid template name \"" + spec.name + "\": " + name_rule());
        if (looks_like_id(spec.name)) return bad_request("template name \"" + spec.name + "\" looks like an id");
        auto source = TRY(lookup(spec.source));
        auto lock = TRY(OpLock::acquire(source, _config.lock_timeout_ms));
        InstanceView view = view_of(*source, _layout);
        if (view.state != State::standby)
            return wrong_state("instance " + view.record.name + " is " + std::string(to_string(view.state)) +
                               "; only a Standby instance can become a template");
        if (memory_is_link(_layout, source->id))
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
        record.disks = view.record.disks;
        for (auto& d : record.disks) d.read_only = true;
        record.hypervisor_version = BROOD_VERSION;
        std::error_code ec;
        record.memory_path = fs::canonical(_layout.snapshot_memory(source->id), ec).string();
        if (ec) return internal("resolve the memory file of " + view.record.name + ": " + ec.message());
        return _templates.create(record);
    });
}

OpResult<TemplateRecord> Manager::get_template(const std::string& ref) const {
    auto t = _templates.find(ref);
    if (!t) return not_found("no template \"" + ref + "\"");
    return *t;
}

OpResult<void> Manager::delete_template(const std::string& ref) {
    return timed("delete_template", ref, [&]() -> OpResult<void> {
        auto t = TRY(get_template(ref));
        // Under the source's lock, like every fork of this template: no fork
        // can be under way while the count is checked.
        if (auto source = _registry.find(t.source_instance_id)) {
            auto lock = TRY(OpLock::acquire(source, _config.lock_timeout_ms));
            return _templates.remove(t.id);
        }
        return _templates.remove(t.id);
    });
}

} // namespace brood::manager
