// Routes for forks and templates.
#include "api/fork_routes.hpp"

#include <chrono>
#include <mutex>

#include "api/json_views.hpp"
#include "api/request_bodies.hpp"

namespace brood::api {

namespace {

using http::Request;
using http::Response;
using nlohmann::json;

const std::string& param(const Request& r) { return r.path_params.at(0); }

json failure_json(const manager::ForkFailure& f) {
    return json{{"name", f.name}, {"status", status_of(f.error.kind)}, {"code", f.error.code},
                {"message", f.error.message}};
}

// An instance fork answers with the fork; a failure on either side (the
// fork, or restoring a from_running source) is the error.
Response instance_fork_answer(const manager::OpResult<manager::ForkOutcome>& result) {
    if (!result) return error_response(result.error());
    if (!result->errors.empty()) {
        manager::OpError e = result->errors.front().error;
        for (size_t i = 1; i < result->errors.size(); ++i) e.message += "; " + result->errors[i].error.message;
        if (!result->instances.empty())
            e.message = "fork " + result->instances.front().record.name + " was made, but: " + e.message;
        return error_response(e);
    }
    return http::json(201, instance_json(result->instances.front()));
}

// A template fork answers {"instances": [...], "errors": [...]}: 201 when at
// least one fork was made; else the first error's status, with code and
// message beside the two lists.
Response template_fork_answer(const manager::OpResult<manager::ForkOutcome>& result) {
    if (!result) return error_response(result.error());
    json body{{"instances", json::array()}, {"errors", json::array()}};
    for (const auto& view : result->instances) body["instances"].push_back(instance_json(view));
    for (const auto& f : result->errors) body["errors"].push_back(failure_json(f));
    if (!result->instances.empty() || result->errors.empty()) return http::json(201, body);
    const manager::OpError& first = result->errors.front().error;
    body["code"] = first.code;
    body["message"] = result->errors.size() == 1
                          ? first.message
                          : std::to_string(result->errors.size()) + " forks failed; the first: " + first.message;
    return http::json(status_of(first.kind), body);
}

Response fork_instance(manager::Manager& m, const Request& r) {
    auto request = manager::parse_fork_request(parse_object(r.body), manager::ForkSource::instance);
    if (!request) return error_response(request.error());
    return instance_fork_answer(m.fork_instance(param(r), *request));
}

// With "stream": true, a template fork answers 200 with one JSON object a
// line (application/x-ndjson) as each fork is made or fails, then a "done"
// line with the totals (docs/api.md, "Streaming a fan-out").
Response fork_template_streaming(manager::Manager& m, const std::string& ref, const manager::ForkRequest& request) {
    auto started = std::chrono::steady_clock::now();
    // An unknown template is a plain 404, before any line.
    if (auto t = m.get_template(ref); !t) return error_response(t.error());
    Response response;
    response.content_type = "application/x-ndjson";
    response.stream = [&m, ref, request, started](http::ChunkWriter& w) {
        auto elapsed_ms = [started] {
            return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
        };
        std::mutex write_mutex;
        // Called from the fork workers. Guest or VMM text in a message may
        // not be UTF-8: it is replaced, never thrown. A client that stops
        // reading holds the workers at most for one write timeout; after
        // that, and once it left, lines are dropped and the forks go on.
        auto send = [&](json line) {
            line["elapsed_ms"] = elapsed_ms();
            std::string text = line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
            std::lock_guard lock(write_mutex);
            (void)w.write(text);
        };
        size_t made = 0, failed = 0;
        auto result = m.fork_template(ref, request, [&](const std::string& name, const auto& fork) {
            if (fork) {
                send(json{{"event", "fork"}, {"instance", instance_json(*fork)}});
            } else {
                send(json{{"event", "error"}, {"name", name}, {"status", status_of(fork.error().kind)},
                          {"code", fork.error().code}, {"message", fork.error().message}});
            }
        });
        json done{{"event", "done"}};
        if (result) {
            made = result->instances.size();
            failed = result->errors.size();
        } else {
            // Nothing was forked: the request's own error.
            done["status"] = status_of(result.error().kind);
            done["code"] = result.error().code;
            done["message"] = result.error().message;
        }
        done["made"] = made;
        done["failed"] = failed;
        send(std::move(done));
    };
    return response;
}

Response fork_template(manager::Manager& m, const Request& r) {
    auto request = manager::parse_fork_request(parse_object(r.body), manager::ForkSource::template_);
    if (!request) return error_response(request.error());
    if (request->stream) return fork_template_streaming(m, param(r), *request);
    return template_fork_answer(m.fork_template(param(r), *request));
}

Response create_template(manager::Manager& m, const Request& r) {
    manager::TemplateSpec spec;
    if (auto bad = parse_template_body(r.body, spec)) return *bad;
    auto created = m.create_template(spec);
    if (!created) return error_response(created.error());
    return http::json(201, template_json(*created));
}

} // namespace

void add_fork_routes(http::Router& router, manager::Manager& m) {
    router.add("POST", "/instances/{id}/fork", [&m](Request& r) { return fork_instance(m, r); });
    router.add("GET", "/templates", [&m](Request&) {
        json list = json::array();
        for (const auto& t : m.list_templates()) list.push_back(template_json(t));
        return http::json(200, list);
    });
    router.add("POST", "/templates", [&m](Request& r) { return create_template(m, r); });
    router.add("GET", "/templates/{id}", [&m](Request& r) {
        auto t = m.get_template(param(r));
        return t ? http::json(200, template_json(*t)) : error_response(t.error());
    });
    router.add("DELETE", "/templates/{id}", [&m](Request& r) {
        auto removed = m.delete_template(param(r));
        return removed ? http::no_content() : error_response(removed.error());
    });
    router.add("POST", "/templates/{id}/fork", [&m](Request& r) { return fork_template(m, r); });
}

} // namespace brood::api
