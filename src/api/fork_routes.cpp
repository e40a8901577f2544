// Routes for forks and templates (issue 5).
#include "api/fork_routes.hpp"

#include "api/json_views.hpp"

namespace brood::api {

namespace {

using http::Request;
using http::Response;
using nlohmann::json;

const std::string& param(const Request& r) { return r.path_params.at(0); }

// target_state and from_running, shared by both fork routes.
std::optional<Response> parse_fork_options(const json& body, manager::ForkSpec& spec) {
    if (body.contains("target_state")) {
        if (!body["target_state"].is_string()) return http::error(400, "bad_request", "target_state must be a string");
        auto state = manager::state_from_string(body["target_state"].get<std::string>());
        if (!state || (*state != manager::State::running && *state != manager::State::standby))
            return http::error(400, "bad_request", "target_state must be \"Running\" or \"Standby\"");
        spec.target_state = *state;
    }
    if (body.contains("from_running")) {
        if (!body["from_running"].is_boolean()) return http::error(400, "bad_request", "from_running must be a boolean");
        spec.from_running = body["from_running"].get<bool>();
    }
    return std::nullopt;
}

Response forks_answer(const manager::OpResult<std::vector<manager::InstanceView>>& result, bool single) {
    if (!result) return error_response(result.error());
    if (single) return http::json(201, instance_json(result->front()));
    json list = json::array();
    for (const auto& view : *result) list.push_back(instance_json(view));
    return http::json(201, list);
}

Response fork_instance(manager::Manager& m, const Request& r) {
    json body = parse_object(r.body);
    if (auto bad = reject_unknown_fields(body, {"name", "target_state", "from_running"})) return *bad;
    if (!body.contains("name") || !body["name"].is_string())
        return http::error(400, "bad_request", "name is required (a string)");
    manager::ForkSpec spec;
    spec.names.push_back(body["name"].get<std::string>());
    if (auto bad = parse_fork_options(body, spec)) return *bad;
    return forks_answer(m.fork_instance(param(r), spec), true);
}

Response fork_template(manager::Manager& m, const Request& r) {
    json body = parse_object(r.body);
    if (auto bad = reject_unknown_fields(body, {"name", "name_prefix", "count", "target_state"})) return *bad;
    manager::ForkSpec spec;
    bool by_name = body.contains("name");
    if (by_name == body.contains("name_prefix"))
        return http::error(400, "bad_request", "give either name, or name_prefix and count");
    if (by_name) {
        if (!body["name"].is_string()) return http::error(400, "bad_request", "name must be a string");
        spec.names.push_back(body["name"].get<std::string>());
    } else {
        if (!body["name_prefix"].is_string()) return http::error(400, "bad_request", "name_prefix must be a string");
        if (!body.contains("count") || !body["count"].is_number_integer() || body["count"].get<int64_t>() < 1 ||
            body["count"].get<int64_t>() > 1000)
            return http::error(400, "bad_request", "count must be an integer from 1 to 1000");
        std::string prefix = body["name_prefix"].get<std::string>();
        for (int64_t i = 1; i <= body["count"].get<int64_t>(); ++i) spec.names.push_back(prefix + "-" + std::to_string(i));
    }
    if (auto bad = parse_fork_options(body, spec)) return *bad;
    return forks_answer(m.fork_template(param(r), spec), false);
}

Response create_template(manager::Manager& m, const Request& r) {
    json body = parse_object(r.body);
    if (auto bad = reject_unknown_fields(body, {"instance", "name", "tags"})) return *bad;
    manager::TemplateSpec spec;
    if (!body.contains("instance") || !body["instance"].is_string())
        return http::error(400, "bad_request", "instance is required (the id or name of a Standby instance)");
    if (!body.contains("name") || !body["name"].is_string())
        return http::error(400, "bad_request", "name is required (a string)");
    spec.source = body["instance"].get<std::string>();
    spec.name = body["name"].get<std::string>();
    if (body.contains("tags")) {
        if (!body["tags"].is_object()) return http::error(400, "bad_request", "tags must be an object of strings");
        for (const auto& [k, v] : body["tags"].items()) {
            if (!v.is_string()) return http::error(400, "bad_request", "tag " + k + " must be a string");
            spec.tags[k] = v.get<std::string>();
        }
    }
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
