#include "manager/template_ops.hpp"

#include <filesystem>

#include "manager/names.hpp"

#ifndef BROOD_VERSION
#define BROOD_VERSION "0.0.0"
#endif

namespace brood::manager {

namespace fs = std::filesystem;

namespace {

std::string forks_text(uint64_t count) { return std::to_string(count) + (count == 1 ? " live fork" : " live forks"); }

} // namespace

OpResult<void> TemplateOps::refuse_source(const Instance& instance, const std::string& op) const {
    auto t = _state.templates.find_by_source(instance.id);
    if (!t || t->fork_count == 0) return {};
    std::string name;
    {
        std::lock_guard lock(instance.mutex);
        name = instance.record.name;
    }
    return in_use("cannot " + op + " instance " + name + ": it is in use as the source of template " + t->name +
                  ", which has " + forks_text(t->fork_count) + " mapping its memory file; delete them first");
}

OpResult<void> TemplateOps::check_name(const std::string& name) {
    if (!valid_name(name)) return bad_request("invalid template name \"" + name + "\": " + name_rule());
    if (looks_like_id(name)) return bad_request("template name \"" + name + "\" looks like an id");
    return {};
}

OpResult<TemplateRecord> TemplateOps::promote(Instance& source, const TemplateSpec& spec) {
    TRY(check_name(spec.name));
    const Layout& layout = _state.layout;
    InstanceView view = view_of(source, layout);
    if (view.state != State::standby)
        return wrong_state("instance " + view.record.name + " is " + std::string(to_string(view.state)) +
                           "; only a Standby instance can become a template");
    if (memory_is_link(layout, source.id))
        return wrong_state("instance " + view.record.name + " shares a template's memory; standby it after a "
                           "restore to give it its own before promoting it");
    TemplateRecord record;
    record.id = new_id();
    record.name = spec.name;
    record.source_instance_id = source.id;
    record.created_at = record.last_used_at = now_rfc3339();
    record.tags = spec.tags;
    record.memory_mib = view.record.memory_mib;
    record.vcpus = view.record.vcpus;
    record.kernel = view.record.kernel;
    record.disks = view.record.disks;
    for (auto& d : record.disks) d.read_only = true;
    record.hypervisor_version = BROOD_VERSION;
    std::error_code ec;
    record.memory_path = fs::canonical(layout.snapshot_memory(source.id), ec).string();
    if (ec) return internal("resolve the memory file of " + view.record.name + ": " + ec.message());
    return _state.templates.create(record);
}

OpResult<TemplateRecord> TemplateOps::get(const std::string& ref) const {
    auto t = _state.templates.find(ref);
    if (!t) return not_found("no template \"" + ref + "\"");
    return *t;
}

} // namespace brood::manager
