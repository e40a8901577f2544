#include "api/request_bodies.hpp"

#include <cstdint>

#include "api/json_views.hpp"

namespace brood::api {

namespace {

using nlohmann::json;

BodyError bad_request(std::string message) { return http::error(400, "bad_request", std::move(message)); }

// Reads an optional integer field, with bounds.
BodyError int_field(const json& body, const char* key, int64_t lo, int64_t hi, int64_t& out) {
    if (!body.contains(key)) return std::nullopt;
    const json& v = body.at(key);
    if (!v.is_number_integer()) return bad_request(std::string(key) + " must be an integer");
    // An integer above INT64_MAX parses as unsigned: out of every range here.
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        return bad_request(std::string(key) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    int64_t n = v.get<int64_t>();
    if (n < lo || n > hi)
        return bad_request(std::string(key) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    out = n;
    return std::nullopt;
}

BodyError string_field(const json& body, const char* key, bool required, std::string& out) {
    if (!body.contains(key)) {
        if (required) return bad_request(std::string(key) + " is required");
        return std::nullopt;
    }
    if (!body.at(key).is_string()) return bad_request(std::string(key) + " must be a string");
    out = body.at(key).get<std::string>();
    return std::nullopt;
}

// disks: [{"path": string, "read_only"?: bool}]; files are checked by the manager.
BodyError disks_field(const json& body, std::vector<manager::DiskRecord>& out) {
    if (!body.contains("disks")) return std::nullopt;
    const json& disks = body.at("disks");
    if (!disks.is_array()) return bad_request("disks must be an array of {\"path\", \"read_only\"} objects");
    for (size_t i = 0; i < disks.size(); ++i) {
        const json& d = disks[i];
        std::string what = "disks[" + std::to_string(i) + "]";
        if (!d.is_object()) return bad_request(what + " must be an object");
        for (const auto& [key, value] : d.items()) {
            (void)value;
            if (key != "path" && key != "read_only") return bad_request(what + " has an unknown field: " + key);
        }
        if (!d.contains("path") || !d["path"].is_string()) return bad_request(what + ".path is required (a string)");
        if (d.contains("read_only") && !d["read_only"].is_boolean())
            return bad_request(what + ".read_only must be a boolean");
        out.push_back({d["path"].get<std::string>(), d.value("read_only", false), ""});
    }
    return std::nullopt;
}

} // namespace

BodyError parse_create_body(const std::string& text, manager::CreateSpec& spec) {
    json body = parse_object(text);
    if (auto bad = reject_unknown_fields(body, {"name", "kernel", "initrd", "cmdline", "memory_mib", "vcpus", "disks",
                                                "agent", "network"}))
        return bad;
    if (auto bad = disks_field(body, spec.disks)) return bad;
    if (body.contains("network") && !body["network"].is_null()) {
        json& network = body["network"];
        if (!network.is_object()) return bad_request("network must be an object, such as {} or {\"bridge\": \"brood0\"}");
        if (auto bad = reject_unknown_fields(network, {"bridge"})) return bad;
        std::string bridge;
        if (auto bad = string_field(network, "bridge", false, bridge)) return bad;
        spec.network_bridge = bridge;
    }
    if (body.contains("agent")) {
        if (!body["agent"].is_boolean()) return bad_request("agent must be true or false");
        spec.agent = body["agent"].get<bool>();
    }
    if (auto bad = string_field(body, "name", true, spec.name)) return bad;
    if (auto bad = string_field(body, "kernel", true, spec.kernel)) return bad;
    if (auto bad = string_field(body, "initrd", false, spec.initrd)) return bad;
    if (auto bad = string_field(body, "cmdline", false, spec.cmdline)) return bad;
    // Range checks live in the manager; here only the JSON types.
    if (auto bad = int_field(body, "memory_mib", INT32_MIN, INT32_MAX, spec.memory_mib)) return bad;
    if (auto bad = int_field(body, "vcpus", INT32_MIN, INT32_MAX, spec.vcpus)) return bad;
    return std::nullopt;
}

BodyError parse_stop_body(const std::string& text, std::optional<int>& timeout_ms) {
    json body = parse_object(text);
    if (auto bad = reject_unknown_fields(body, {"timeout_ms"})) return bad;
    int64_t timeout = -1;
    if (auto bad = int_field(body, "timeout_ms", 0, 600'000, timeout)) return bad;
    timeout_ms.reset();
    if (timeout >= 0) timeout_ms = static_cast<int>(timeout);
    return std::nullopt;
}

BodyError parse_console_body(const std::string& text, ConsoleBody& out) {
    json body = parse_object(text);
    if (auto bad = reject_unknown_fields(body, {"input", "until", "timeout_ms"})) return bad;
    int64_t timeout = out.timeout_ms;
    if (auto bad = string_field(body, "input", true, out.input)) return bad;
    if (auto bad = string_field(body, "until", false, out.until)) return bad;
    if (auto bad = int_field(body, "timeout_ms", 1, 600'000, timeout)) return bad;
    if (out.input.find_first_of("\r\n") != std::string::npos) return bad_request("input must be a single line");
    out.timeout_ms = static_cast<int>(timeout);
    return std::nullopt;
}

BodyError parse_template_body(const std::string& text, manager::TemplateSpec& spec) {
    json body = parse_object(text);
    if (auto bad = reject_unknown_fields(body, {"instance", "name", "tags"})) return bad;
    if (!body.contains("instance") || !body["instance"].is_string())
        return bad_request("instance is required (the id or name of a Standby instance)");
    if (!body.contains("name") || !body["name"].is_string()) return bad_request("name is required (a string)");
    spec.source = body["instance"].get<std::string>();
    spec.name = body["name"].get<std::string>();
    if (body.contains("tags")) {
        if (!body["tags"].is_object()) return bad_request("tags must be an object of strings");
        for (const auto& [k, v] : body["tags"].items()) {
            if (!v.is_string()) return bad_request("tag " + k + " must be a string");
            spec.tags[k] = v.get<std::string>();
        }
    }
    return std::nullopt;
}

BodyError parse_exec_body(const std::string& text, manager::ExecSpec& spec) {
    json body = parse_object(text);
    if (auto bad = reject_unknown_fields(body, {"cmd", "env", "cwd", "stdin", "timeout_ms"})) return bad;
    const char* cmd_shape = "cmd must be a non-empty array of strings (no shell is implied)";
    if (!body.contains("cmd") || !body["cmd"].is_array() || body["cmd"].empty()) return bad_request(cmd_shape);
    for (const auto& arg : body["cmd"]) {
        if (!arg.is_string()) return bad_request(cmd_shape);
        spec.cmd.push_back(arg.get<std::string>());
    }
    if (body.contains("env")) {
        if (!body["env"].is_object()) return bad_request("env must be an object of strings");
        for (const auto& [k, v] : body["env"].items()) {
            if (!v.is_string()) return bad_request("env " + k + " must be a string");
            if (k.empty() || k.find('=') != std::string::npos) return bad_request("env names must be non-empty, without '='");
            spec.env[k] = v.get<std::string>();
        }
    }
    if (auto bad = string_field(body, "cwd", false, spec.cwd)) return bad;
    if (auto bad = string_field(body, "stdin", false, spec.stdin_data)) return bad;
    int64_t timeout = spec.timeout_ms;
    if (auto bad = int_field(body, "timeout_ms", 1, 300'000, timeout)) return bad;
    spec.timeout_ms = static_cast<int>(timeout);
    return std::nullopt;
}

} // namespace brood::api
