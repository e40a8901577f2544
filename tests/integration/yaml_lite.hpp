// Reads the YAML subset docs/openapi.yaml is written in: block mappings and
// sequences by indentation, plain and quoted scalars, flow sequences of
// scalars, `{}`/`[]`, and full-line or trailing comments. No anchors, no
// multi-line scalars. Throws std::runtime_error on anything else.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace brood::testing {

nlohmann::json parse_yaml_lite(const std::string& text);

// Checks `value` against an OpenAPI 3.0 schema (type, required, properties,
// items, enum, nullable, $ref into `spec`); returns "" or the first problem.
std::string check_schema(const nlohmann::json& spec, const nlohmann::json& schema, const nlohmann::json& value,
                         const std::string& where = "$");

} // namespace brood::testing
