#include "manager/fork_request.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "manager/names.hpp"

namespace brood::manager {

namespace {

using nlohmann::json;

OpResult<void> check_fields(const json& body, std::initializer_list<const char*> allowed) {
    for (const auto& item : body.items()) {
        const std::string& key = item.key(); // a named variable: clang 14 cannot capture a structured binding
        bool known = std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; });
        if (!known) return bad_request("unknown field \"" + key + "\"");
    }
    return {};
}

OpResult<std::string> string_field(const json& body, const char* key) {
    if (!body.at(key).is_string()) return bad_request(std::string(key) + " must be a string");
    return body.at(key).get<std::string>();
}

OpResult<void> check_name(const std::string& name) {
    if (!valid_name(name)) return bad_request("invalid name \"" + name + "\": " + name_rule());
    if (looks_like_id(name)) return bad_request("name \"" + name + "\" looks like an instance id");
    return {};
}

OpResult<int64_t> int_field(const json& body, const char* key, int64_t lo, int64_t hi) {
    const json& v = body.at(key);
    // Accept 3.0 as 3 only when it is integral: JSON has one number type.
    if (!v.is_number_integer())
        return bad_request(std::string(key) + " must be an integer from " + std::to_string(lo) + " to " +
                           std::to_string(hi));
    // Unsigned values beyond int64 are out of range too.
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
        return bad_request(std::string(key) + " must be an integer from " + std::to_string(lo) + " to " +
                           std::to_string(hi));
    int64_t n = v.get<int64_t>();
    if (n < lo || n > hi)
        return bad_request(std::string(key) + " must be an integer from " + std::to_string(lo) + " to " +
                           std::to_string(hi));
    return n;
}

OpResult<void> parse_names(const json& body, ForkSource source, ForkRequest& out) {
    bool by_name = body.contains("name");
    if (source == ForkSource::instance) {
        if (!by_name) return bad_request("name is required (a string)");
        out.names.push_back(TRY(string_field(body, "name")));
        return check_name(out.names.back());
    }
    bool by_prefix = body.contains("name_prefix");
    if (by_name == by_prefix) return bad_request("give either name, or name_prefix and count");
    if (by_name) {
        if (body.contains("count")) return bad_request("count goes with name_prefix, not with name");
        out.names.push_back(TRY(string_field(body, "name")));
        return check_name(out.names.back());
    }
    std::string prefix = TRY(string_field(body, "name_prefix"));
    if (!body.contains("count")) return bad_request("name_prefix needs count");
    int64_t count = TRY(int_field(body, "count", 1, kMaxForkCount));
    // The longest name decides: PREFIX-<count>.
    TRY(check_name(prefix + "-" + std::to_string(count)));
    for (int64_t i = 1; i <= count; ++i) out.names.push_back(prefix + "-" + std::to_string(i));
    return {};
}

} // namespace

std::optional<State> fork_target_from_string(const std::string& text) {
    std::string lower = text;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "running") return State::running;
    if (lower == "standby") return State::standby;
    if (lower == "stopped") return State::stopped;
    return std::nullopt;
}

OpResult<ForkRequest> parse_fork_request(const json& body, ForkSource source) {
    if (!body.is_object()) return bad_request("the body must be a JSON object");
    if (source == ForkSource::instance)
        TRY(check_fields(body, {"name", "target_state", "from_running"}));
    else
        TRY(check_fields(body, {"name", "name_prefix", "count", "target_state", "concurrency", "stream"}));
    ForkRequest out;
    TRY(parse_names(body, source, out));
    if (body.contains("target_state")) {
        std::string text = TRY(string_field(body, "target_state"));
        out.target_state = fork_target_from_string(text);
        if (!out.target_state)
            return bad_request("target_state must be Running, Standby or Stopped, not \"" + text + "\"");
    }
    if (body.contains("from_running")) {
        if (!body["from_running"].is_boolean()) return bad_request("from_running must be a boolean");
        out.from_running = body["from_running"].get<bool>();
    }
    if (body.contains("concurrency"))
        out.concurrency = static_cast<int>(TRY(int_field(body, "concurrency", 1, kMaxForkConcurrency)));
    if (body.contains("stream")) {
        if (!body["stream"].is_boolean()) return bad_request("stream must be a boolean");
        out.stream = body["stream"].get<bool>();
    }
    return out;
}

} // namespace brood::manager
