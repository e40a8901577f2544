#include "manager/vmm_control.hpp"

#include "common/http/client.hpp"

namespace brood::manager {

Result<std::string> VmmControl::call(const char* method, const char* path, const std::string& body,
                                     int timeout_ms) const {
    std::string what = std::string("vmm ") + method + " " + path;
    auto client = TRY_CTX(http::Client::connect_unix(_path), what);
    auto response = TRY_CTX(client.request(method, path, body, timeout_ms), what);
    if (response.status >= 200 && response.status < 300) return response.body;
    std::string message = response.body;
    try {
        auto j = nlohmann::json::parse(response.body);
        message = j.value("code", "") + ": " + j.value("message", "");
    } catch (const nlohmann::json::exception&) {
    }
    return fail(what + ": HTTP " + std::to_string(response.status) + ": " + message,
                response.status == 409 ? EBUSY : EIO);
}

Result<nlohmann::json> VmmControl::get_vm(int timeout_ms) const {
    std::string body = TRY(call("GET", "/vm", "", timeout_ms));
    try {
        return nlohmann::json::parse(body);
    } catch (const nlohmann::json::exception& e) {
        return fail(std::string("vmm GET /vm: malformed answer: ") + e.what());
    }
}

Result<void> VmmControl::pause(int timeout_ms) const {
    TRY(call("PUT", "/vm/pause", "", timeout_ms));
    return {};
}

Result<void> VmmControl::resume(int timeout_ms) const {
    TRY(call("PUT", "/vm/resume", "", timeout_ms));
    return {};
}

Result<void> VmmControl::snapshot(const std::string& state_path, const std::string& memory_path,
                                  int timeout_ms, bool diff) const {
    nlohmann::json body{{"state_path", state_path}, {"memory_path", memory_path}, {"diff", diff}};
    TRY(call("PUT", "/vm/snapshot", body.dump(), timeout_ms));
    return {};
}

Result<void> VmmControl::shutdown(bool force, int graceful_timeout_ms) const {
    nlohmann::json body{{"force", force}, {"timeout_ms", graceful_timeout_ms}};
    TRY(call("PUT", "/vm/shutdown", body.dump(), 10'000));
    return {};
}

} // namespace brood::manager
