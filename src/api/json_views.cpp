#include "api/json_views.hpp"

#include <algorithm>
#include <cstring>

namespace brood::api {

using manager::ErrorKind;

namespace {
nlohmann::json disks_json(const std::vector<manager::DiskRecord>& disks) {
    auto out = nlohmann::json::array();
    for (const auto& d : disks) out.push_back(manager::to_json(d));
    return out;
}
} // namespace

nlohmann::json instance_json(const manager::InstanceView& view) {
    const auto& r = view.record;
    nlohmann::json j{
        {"id", r.id},
        {"name", r.name},
        {"state", std::string(manager::to_string(view.state))},
        {"memory_mib", r.memory_mib},
        {"vcpus", r.vcpus},
        {"vsock_cid", r.vsock_cid},
        {"kernel", r.kernel},
        {"initrd", r.initrd},
        {"cmdline", r.cmdline},
        {"created_at", r.created_at},
        {"updated_at", r.updated_at},
        {"snapshot_present", view.facts.snapshot_present},
        {"restore_backend", r.restore_backend ? std::string(to_string(*r.restore_backend)) : ""},
        {"agent", r.agent},
    };
    // The NIC's identity; null without one.
    j["mac"] = r.mac.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.mac);
    j["ip"] = r.ip.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.ip);
    j["network"] = r.tap.empty() ? nlohmann::json(nullptr) : nlohmann::json{{"bridge", r.bridge}, {"tap", r.tap}};
    j["pid"] = view.pid > 0 ? nlohmann::json(view.pid) : nlohmann::json(nullptr);
    j["failure_reason"] = view.failure_reason.empty() ? nlohmann::json(nullptr) : nlohmann::json(view.failure_reason);
    if (r.last_exit) {
        const auto& e = *r.last_exit;
        j["last_exit"] = {{"reason", e.reason}, {"at", e.at}};
        j["last_exit"]["exit_code"] = e.exit_code ? nlohmann::json(*e.exit_code) : nlohmann::json(nullptr);
        j["last_exit"]["signal"] = e.signal ? nlohmann::json(*e.signal) : nlohmann::json(nullptr);
    } else {
        j["last_exit"] = nullptr;
    }
    j["disks"] = disks_json(r.disks);
    j["template_id"] = r.template_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.template_id);
    if (r.pending_op != manager::PendingOp::none) j["pending_op"] = std::string(to_string(r.pending_op));
    return j;
}

nlohmann::json template_json(const manager::TemplateRecord& r) {
    return nlohmann::json{
        {"id", r.id},
        {"name", r.name},
        {"source_instance_id", r.source_instance_id},
        {"fork_count", r.fork_count},
        {"created_at", r.created_at},
        {"last_used_at", r.last_used_at},
        {"tags", r.tags},
        {"memory_mib", r.memory_mib},
        {"vcpus", r.vcpus},
        {"kernel", r.kernel},
        {"hypervisor", r.hypervisor},
        {"hypervisor_version", r.hypervisor_version},
        {"disks", disks_json(r.disks)},
    };
}

int status_of(ErrorKind kind) {
    switch (kind) {
    case ErrorKind::bad_request: return 400;
    case ErrorKind::not_found: return 404;
    case ErrorKind::conflict: return 409;
    case ErrorKind::not_supported: return 501;
    case ErrorKind::timeout: return 504;
    case ErrorKind::vmm_died: return 502;
    case ErrorKind::agent_unreachable: return 502;
    case ErrorKind::too_large: return 413;
    case ErrorKind::internal: return 500;
    }
    return 500;
}

http::Response error_response(const manager::OpError& error) {
    return http::error(status_of(error.kind), error.code, error.message);
}

nlohmann::json parse_object(const std::string& body) {
    if (body.find_first_not_of(" \t\r\n") == std::string::npos) return nlohmann::json::object();
    auto j = nlohmann::json::parse(body);
    if (!j.is_object()) throw nlohmann::json::type_error::create(302, "the body must be a JSON object", &j);
    return j;
}

std::optional<http::Response> reject_unknown_fields(const nlohmann::json& body,
                                                    std::initializer_list<const char*> allowed) {
    for (const auto& item : body.items()) {
        const std::string& key = item.key(); // a named variable: clang 14 cannot capture a structured binding
        bool known = std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; });
        if (!known) return http::error(400, "bad_request", "unknown field \"" + key + "\"");
    }
    return std::nullopt;
}

} // namespace brood::api
