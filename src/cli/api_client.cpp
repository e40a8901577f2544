#include "cli/api_client.hpp"

#include <cerrno>
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

std::optional<client::Client> ApiClient::connect_or_report() {
    auto c = client::Client::connect(_address, _token);
    if (!c) {
        std::fprintf(stderr, "brood: cannot reach broodd at %s: %s\n", _address.c_str(),
                     c.error().message().c_str());
        return std::nullopt;
    }
    return std::move(*c);
}

int ApiClient::call(const std::string& method, const std::string& path, const nlohmann::json* body, Answer& answer,
                    int timeout_ms) {
    return call_bytes(method, path, body && !body->is_null() ? body->dump() : std::string(), answer, timeout_ms);
}

int ApiClient::call_bytes(const std::string& method, const std::string& path, std::string_view body, Answer& answer,
                          int timeout_ms) {
    auto c = connect_or_report();
    if (!c) return kUnreachable;
    auto reply = c->request_bytes(method, path, body, timeout_ms);
    if (!reply) {
        std::fprintf(stderr, "brood: %s\n", reply.error().message().c_str());
        return reply.error().errno_value() == ETIMEDOUT ? kTimeout : kUnreachable;
    }
    answer.status = reply->status;
    answer.text = reply->text;
    answer.body = reply->body;
    return report(*reply);
}

int ApiClient::report(const client::Reply& reply) {
    int code = exit_code_for_status(reply.status);
    if (code != kOk)
        std::fprintf(stderr, "brood: %s (%d %s)\n", reply.error_message().c_str(), reply.status,
                     reply.error_code().c_str());
    return code;
}

int ApiClient::stream(const std::string& path, const http::Client::DataFn& on_data, const std::string& method,
                      const nlohmann::json& body) {
    auto c = connect_or_report();
    if (!c) return kUnreachable;
    auto reply = c->stream(method, path, on_data, body);
    if (!reply) {
        std::fprintf(stderr, "brood: %s\n", reply.error().message().c_str());
        return kUnreachable;
    }
    return report(*reply);
}

int ApiClient::fork_template_lines(const std::string& template_ref, const nlohmann::json& body,
                                   const client::Client::ForkLineFn& on_line) {
    auto c = connect_or_report();
    if (!c) return kUnreachable;
    auto reply = c->fork_template_lines(template_ref, body, on_line);
    if (!reply) {
        std::fprintf(stderr, "brood: %s\n", reply.error().message().c_str());
        return reply.error().errno_value() == ETIMEDOUT ? kTimeout : kInternal;
    }
    return report(*reply);
}

} // namespace brood::cli
