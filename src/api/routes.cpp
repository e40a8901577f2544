#include "api/routes.hpp"

#include "api/agent_routes.hpp"
#include "api/fork_routes.hpp"
#include "api/json_views.hpp"
#include "api/request_bodies.hpp"

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

Response create(manager::Manager& m, const Request& r) {
    manager::CreateSpec spec;
    if (auto bad = parse_create_body(r.body, spec)) return *bad;
    return view_or_error(m.create(spec), 201);
}

Response stop(manager::Manager& m, const Request& r) {
    std::optional<int> timeout;
    if (auto bad = parse_stop_body(r.body, timeout)) return *bad;
    return view_or_error(m.stop(param(r), timeout));
}

Response console(manager::Manager& m, const Request& r) {
    ConsoleBody body;
    if (auto bad = parse_console_body(r.body, body)) return *bad;
    auto result = m.console(param(r), body.input, body.until, body.timeout_ms);
    if (!result) return error_response(result.error());
    if (!result->matched) {
        json j{{"code", "timeout"},
               {"message", "\"" + body.until + "\" did not appear within " + std::to_string(body.timeout_ms) + " ms"},
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
    add_agent_routes(router, m);
    add_fork_routes(router, m);
    router.set_observer([&m](const std::string& method, const std::string& route, int status,
                             std::chrono::nanoseconds elapsed) { m.metrics().observe_request(method, route, status, elapsed); });
    return router;
}

} // namespace brood::api
