// POST /instances/{id}/exec, PUT and GET /instances/{id}/files?path=...
#include "api/agent_routes.hpp"

#include "api/json_views.hpp"
#include "api/request_bodies.hpp"

namespace brood::api {

namespace {

using http::Request;
using http::Response;
using nlohmann::json;

const std::string& param(const Request& r) { return r.path_params.at(0); }

Response exec(manager::Manager& m, const Request& r) {
    manager::ExecSpec spec;
    if (auto bad = parse_exec_body(r.body, spec)) return *bad;
    auto result = m.exec(param(r), spec);
    if (!result) return error_response(result.error());
    // Output is text: invalid UTF-8 becomes U+FFFD when the answer is written.
    return http::json(200, json{{"exit_code", result->exit_code},
                                {"signal", result->signal},
                                {"timed_out", result->timed_out},
                                {"stdout", result->stdout_data},
                                {"stderr", result->stderr_data},
                                {"stdout_truncated", result->stdout_truncated},
                                {"stderr_truncated", result->stderr_truncated}});
}

std::optional<Response> path_param(const Request& r, std::string& path) {
    auto p = r.query_param("path");
    if (!p || p->empty() || (*p)[0] != '/')
        return http::error(400, "bad_request", "the path query parameter must be an absolute path in the guest");
    path = *p;
    return std::nullopt;
}

Response put_file(manager::Manager& m, const Request& r) {
    std::string path;
    if (auto bad = path_param(r, path)) return *bad;
    unsigned mode = 0644;
    if (auto text = r.query_param("mode")) {
        size_t used = 0;
        unsigned long v = 0;
        try {
            v = std::stoul(*text, &used, 8);
        } catch (const std::exception&) {
            used = 0;
        }
        if (text->empty() || used != text->size() || v > 07777)
            return http::error(400, "bad_request", "mode must be octal, 0 to 7777");
        mode = static_cast<unsigned>(v);
    }
    auto written = m.write_guest_file(param(r), path, mode, r.body);
    if (!written) return error_response(written.error());
    return http::json(200, json{{"path", path}, {"size", *written}});
}

Response get_file(manager::Manager& m, const Request& r) {
    std::string path;
    if (auto bad = path_param(r, path)) return *bad;
    auto data = m.read_guest_file(param(r), path);
    if (!data) return error_response(data.error());
    Response answer;
    answer.content_type = "application/octet-stream";
    answer.body = std::move(*data);
    return answer;
}

} // namespace

void add_agent_routes(http::Router& router, manager::Manager& m) {
    router.add("POST", "/instances/{id}/exec", [&m](Request& r) { return exec(m, r); });
    router.add("PUT", "/instances/{id}/files", [&m](Request& r) { return put_file(m, r); });
    router.add("GET", "/instances/{id}/files", [&m](Request& r) { return get_file(m, r); });
}

} // namespace brood::api
