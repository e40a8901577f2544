#include "manager/template_record.hpp"

#include <nlohmann/json.hpp>

#include "manager/atomic_file.hpp"

namespace brood::manager {

nlohmann::json to_json(const TemplateRecord& r) {
    nlohmann::json j{
        {"format_version", 1},    {"id", r.id},
        {"name", r.name},         {"source_instance_id", r.source_instance_id},
        {"fork_count", r.fork_count}, {"created_at", r.created_at},
        {"last_used_at", r.last_used_at}, {"tags", r.tags},
        {"memory_mib", r.memory_mib}, {"vcpus", r.vcpus},
        {"kernel", r.kernel},     {"hypervisor", r.hypervisor},
        {"hypervisor_version", r.hypervisor_version},
        {"memory_path", r.memory_path},
    };
    j["disks"] = nlohmann::json::array();
    for (const auto& d : r.disks) j["disks"].push_back(to_json(d));
    return j;
}

TemplateRecord template_from_json(const nlohmann::json& j) {
    TemplateRecord r;
    r.id = j.at("id").get<std::string>();
    r.name = j.at("name").get<std::string>();
    r.source_instance_id = j.at("source_instance_id").get<std::string>();
    r.fork_count = j.value("fork_count", uint64_t{0});
    r.created_at = j.value("created_at", "");
    r.last_used_at = j.value("last_used_at", "");
    r.tags = j.value("tags", std::map<std::string, std::string>{});
    r.memory_mib = j.value("memory_mib", 0u);
    r.vcpus = j.value("vcpus", 0u);
    r.kernel = j.value("kernel", "");
    r.hypervisor = j.value("hypervisor", "brood-vmm");
    r.hypervisor_version = j.value("hypervisor_version", "");
    r.memory_path = j.value("memory_path", "");
    if (j.contains("disks"))
        for (const auto& d : j.at("disks")) r.disks.push_back(disk_from_json(d));
    return r;
}

Result<TemplateRecord> load_template(const std::string& path) {
    std::string text = TRY(read_file(path));
    try {
        return template_from_json(nlohmann::json::parse(text));
    } catch (const nlohmann::json::exception& e) {
        return fail("malformed template " + path + ": " + e.what(), EBADMSG);
    }
}

Result<void> save_template(const std::string& path, const TemplateRecord& record) {
    return write_file_atomic(path, to_json(record).dump(2) + "\n");
}

} // namespace brood::manager
