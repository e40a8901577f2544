// Plain text tables for humans.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace brood::cli {

std::string render_table(const std::vector<std::vector<std::string>>& rows);
// ID NAME STATE MEMORY VCPUS PID CREATED, one row per instance.
std::string instances_table(const nlohmann::json& instances);

} // namespace brood::cli
