#include "cli/api_client.hpp"

#include <cstdio>

namespace brood::cli {

int exit_code_for_status(int status) {
    if (status >= 200 && status < 300) return kOk;
    switch (status) {
    case 400: return kBadRequest;
    case 404: return kNotFound;
    case 409: return kConflict;
    case 501: return kNotSupported;
    case 502: return kVmmDied;
    case 504: return kTimeout;
    default: return kInternal;
    }
}

std::optional<http::Client> ApiClient::connect_or_report() {
    auto client = http::connect(_address);
    if (!client) {
        std::fprintf(stderr, "brood: cannot reach broodd at %s: %s\n", _address.c_str(),
                     client.error().message().c_str());
        return std::nullopt;
    }
    if (!_token.empty()) client->set_bearer_token(_token);
    return std::move(*client);
}

int ApiClient::call(const std::string& method, const std::string& path, const nlohmann::json* body, Answer& answer,
                    int timeout_ms) {
    auto client = connect_or_report();
    if (!client) return kUnreachable;
    auto response = client->request(method, path, body ? body->dump() : "", timeout_ms);
    if (!response) {
        std::fprintf(stderr, "brood: %s\n", response.error().message().c_str());
        return response.error().errno_value() == ETIMEDOUT ? kTimeout : kUnreachable;
    }
    answer.status = response->status;
    answer.text = response->body;
    if (response->content_type.find("json") != std::string::npos && !response->body.empty()) {
        try {
            answer.body = nlohmann::json::parse(response->body);
        } catch (const nlohmann::json::exception&) {
        }
    }
    int code = exit_code_for_status(response->status);
    if (code != kOk) {
        std::string message = answer.body.is_object() ? answer.body.value("message", answer.text) : answer.text;
        std::string kind = answer.body.is_object() ? answer.body.value("code", "") : "";
        std::fprintf(stderr, "brood: %s (%d %s)\n", message.c_str(), response->status, kind.c_str());
    }
    return code;
}

int ApiClient::stream(const std::string& path, const http::Client::DataFn& on_data) {
    auto client = connect_or_report();
    if (!client) return kUnreachable;
    auto response = client->stream("GET", path, on_data);
    if (!response) {
        std::fprintf(stderr, "brood: %s\n", response.error().message().c_str());
        return kUnreachable;
    }
    int code = exit_code_for_status(response->status);
    if (code != kOk) std::fprintf(stderr, "brood: %s\n", response->body.c_str());
    return code;
}

} // namespace brood::cli
