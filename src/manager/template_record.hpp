// A template: a Standby instance promoted so forks can share its memory file.
// Stored in templates/<id>/template.json.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.hpp"
#include "manager/disk_record.hpp"

namespace brood::manager {

struct TemplateRecord {
    std::string id;
    std::string name;
    std::string source_instance_id;
    uint64_t fork_count = 0; // live forks; recounted from the instances at daemon start
    std::string created_at;
    std::string last_used_at;
    std::map<std::string, std::string> tags;
    uint32_t memory_mib = 0;
    uint32_t vcpus = 0;
    std::string kernel;
    std::string hypervisor = "brood-vmm";
    std::string hypervisor_version; // the brood-vmm release that wrote the snapshot
    // The canonical memory file forks link to (the source's snapshot memory).
    std::string memory_path;
    // The source's disks, which its forks use as read-only bases (or reflink).
    std::vector<DiskRecord> disks;
};

nlohmann::json to_json(const TemplateRecord& record);
TemplateRecord template_from_json(const nlohmann::json& json); // throws on malformed input
Result<TemplateRecord> load_template(const std::string& path);
[[nodiscard]] Result<void> save_template(const std::string& path, const TemplateRecord& record);

} // namespace brood::manager
