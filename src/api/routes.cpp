#include "api/routes.hpp"

#include "api/fork_routes.hpp"
#include "api/json_views.hpp"

namespace brood::api {

namespace {

using http::Request;
using http::Response;
using nlohmann::json;

const std::string& param(const Request& r) { return r.path_params.at(0); }

Response view_or_error(const manager::OpResult<manager::InstanceView>& result, int status = 200) {
    if (!result) return error_response(result.error());
    return http::json(status, instance_json(*result));
}

// Reads an optional integer field, with bounds.
std::optional<Response> int_field(const json& body, const char* key, int64_t lo, int64_t hi, int64_t& out) {
    if (!body.contains(key)) return std::nullopt;
    const json& v = body.at(key);
    if (!v.is_number_integer()) return http::error(400, "bad_request", std::string(key) + " must be an integer");
    int64_t n = v.get<int64_t>();
    if (n < lo || n > hi)
        return http::error(400, "bad_request",
                           std::string(key) + " must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    out = n;
    return std::nullopt;
}

std::optional<Response> string_field(const json& body, const char* key, bool required, std::string& out) {
    if (!body.contains(key)) {
        if (required) return http::error(400, "bad_request", std::string(key) + " is required");
        return std::nullopt;
    }
    if (!body.at(key).is_string()) return http::error(400, "bad_request", std::string(key) + " must be a string");
    out = body.at(key).get<std::string>();
    return std::nullopt;
}

Response create(manager::Manager& m, const Request& r) {
    json body = parse_object(r.body);
    if (auto bad = reject_unknown_fields(body, {"name", "kernel", "initrd", "cmdline", "memory_mib", "vcpus"}))
        return *bad;
    manager::CreateSpec spec;
    if (auto bad = string_field(body, "name", true, spec.name)) return *bad;
    if (auto bad = string_field(body, "kernel", true, spec.kernel)) return *bad;
    if (auto bad = string_field(body, "initrd", false, spec.initrd)) return *bad;
    if (auto bad = string_field(body, "cmdline", false, spec.cmdline)) return *bad;
    // Range checks live in the manager; here only the JSON types.
    if (auto bad = int_field(body, "memory_mib", INT32_MIN, INT32_MAX, spec.memory_mib)) return *bad;
    if (auto bad = int_field(body, "vcpus", INT32_MIN, INT32_MAX, spec.vcpus)) return *bad;
    return view_or_error(m.create(spec), 201);
}

Response stop(manager::Manager& m, const Request& r) {
    json body = parse_object(r.body);
    if (auto bad = reject_unknown_fields(body, {"timeout_ms"})) return *bad;
    int64_t timeout = -1;
    if (auto bad = int_field(body, "timeout_ms", 0, 600'000, timeout)) return *bad;
    std::optional<int> t;
    if (timeout >= 0) t = static_cast<int>(timeout);
    return view_or_error(m.stop(param(r), t));
}

Response console(manager::Manager& m, const Request& r) {
    json body = parse_object(r.body);
    if (auto bad = reject_unknown_fields(body, {"input", "until", "timeout_ms"})) return *bad;
    std::string input, until;
    int64_t timeout = 5'000;
    if (auto bad = string_field(body, "input", true, input)) return *bad;
    if (auto bad = string_field(body, "until", false, until)) return *bad;
    if (auto bad = int_field(body, "timeout_ms", 1, 600'000, timeout)) return *bad;
    if (input.find_first_of("\r\n") != std::string::npos)
        return http::error(400, "bad_request", "input must be a single line");
    auto result = m.console(param(r), input, until, static_cast<int>(timeout));
    if (!result) return error_response(result.error());
    if (!result->matched) {
        json j{{"code", "timeout"},
               {"message", "\"" + until + "\" did not appear within " + std::to_string(timeout) + " ms"},
               {"output", result->output}};
        if (result->truncated) j["truncated"] = true;
        return http::json(504, j);
    }
    json j{{"output", result->output}};
    if (result->truncated) j["truncated"] = true;
    return http::json(200, j);
}

} // namespace

http::Router make_router(manager::Manager& m) {
    http::Router router;
    router.add("GET", "/version", [](Request&) {
        return http::json(200, {{"name", "broodd"}, {"version", "0.1.0"}, {"api_version", 1}});
    });
    router.add("GET", "/metrics", [&m](Request&) {
        Response r;
        r.body = m.metrics_text();
        r.content_type = "text/plain; version=0.0.4";
        return r;
    });
    router.add("GET", "/instances", [&m](Request&) {
        json list = json::array();
        for (const auto& view : m.list()) list.push_back(instance_json(view));
        return http::json(200, list);
    });
    router.add("POST", "/instances", [&m](Request& r) { return create(m, r); });
    router.add("GET", "/instances/{id}", [&m](Request& r) { return view_or_error(m.get(param(r))); });
    router.add("DELETE", "/instances/{id}", [&m](Request& r) {
        auto removed = m.remove(param(r));
        return removed ? http::no_content() : error_response(removed.error());
    });
    router.add("POST", "/instances/{id}/start", [&m](Request& r) { return view_or_error(m.start(param(r))); });
    router.add("POST", "/instances/{id}/stop", [&m](Request& r) { return stop(m, r); });
    router.add("POST", "/instances/{id}/standby", [&m](Request& r) { return view_or_error(m.standby(param(r))); });
    router.add("POST", "/instances/{id}/restore", [&m](Request& r) { return view_or_error(m.restore(param(r))); });
    router.add("POST", "/instances/{id}/pause", [&m](Request& r) { return view_or_error(m.pause(param(r))); });
    router.add("POST", "/instances/{id}/resume", [&m](Request& r) { return view_or_error(m.resume(param(r))); });
    router.add("POST", "/instances/{id}/console", [&m](Request& r) { return console(m, r); });
    router.add("GET", "/instances/{id}/logs", [&m](Request& r) { return logs_response(m, r); });
    add_fork_routes(router, m);
    router.set_observer([&m](const std::string& method, const std::string& route, int status,
                             std::chrono::nanoseconds elapsed) { m.metrics().observe_request(method, route, status, elapsed); });
    return router;
}

} // namespace brood::api
