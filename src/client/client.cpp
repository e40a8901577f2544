#include "client/client.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

namespace brood::client {

using nlohmann::json;

std::string Reply::error_code() const {
    return body.is_object() && body.contains("code") && body["code"].is_string() ? body["code"].get<std::string>()
                                                                                 : "";
}

std::string Reply::error_message() const {
    return body.is_object() && body.contains("message") && body["message"].is_string()
               ? body["message"].get<std::string>()
               : text;
}

Result<Client> Client::connect(const std::string& address, const std::string& token) {
    auto http = TRY_CTX(http::connect(address), "connect to broodd at " + address);
    if (!token.empty()) http.set_bearer_token(token);
    return Client(std::move(http));
}

Result<Reply> Client::request(std::string_view method, const std::string& path, const json& body, int timeout_ms) {
    return request_bytes(method, path, body.is_null() ? "" : body.dump(), timeout_ms);
}

Result<Reply> Client::request_bytes(std::string_view method, const std::string& path, std::string_view body,
                                    int timeout_ms) {
    auto response = TRY_CTX(_http.request(method, path, body, timeout_ms), fmt::format("{} {}", method, path));
    Reply reply;
    reply.status = response.status;
    reply.text = std::move(response.body);
    reply.content_type = std::move(response.content_type);
    if (reply.content_type.find("json") != std::string::npos && !reply.text.empty())
        reply.body = json::parse(reply.text, nullptr, false);
    if (reply.body.is_discarded()) reply.body = nullptr;
    return reply;
}

Result<json> Client::call(std::string_view method, const std::string& path, const json& body, int timeout_ms) {
    Reply reply = TRY(request(method, path, body, timeout_ms));
    if (!reply.ok()) {
        std::string code = reply.error_code();
        return fail(fmt::format("{} {}: HTTP {}{}{}: {}", method, path, reply.status, code.empty() ? "" : " ", code,
                                reply.error_message()));
    }
    return reply.body;
}

Result<Reply> Client::stream(std::string_view method, const std::string& path, const http::Client::DataFn& on_data,
                             const json& body, int idle_timeout_ms) {
    std::string text = body.is_null() ? "" : body.dump();
    auto response =
        TRY_CTX(_http.stream(method, path, on_data, idle_timeout_ms, text), fmt::format("{} {}", method, path));
    Reply reply;
    reply.status = response.status;
    reply.text = std::move(response.body);
    reply.content_type = std::move(response.content_type);
    if (reply.content_type.find("json") != std::string::npos && !reply.text.empty())
        reply.body = json::parse(reply.text, nullptr, false);
    if (reply.body.is_discarded()) reply.body = nullptr;
    return reply;
}

std::string guest_file_path(const std::string& ref, const std::string& guest_path) {
    return "/instances/" + ref + "/files?path=" + http::percent_encode(guest_path);
}

Result<ForkAnswer> parse_fork_answer(const json& answer) {
    if (!answer.is_object() || !answer.contains("instances") || !answer["instances"].is_array())
        return fail("fork: unexpected answer " + answer.dump());
    ForkAnswer out;
    out.instances.assign(answer["instances"].begin(), answer["instances"].end());
    if (answer.contains("errors") && answer["errors"].is_array())
        out.errors.assign(answer["errors"].begin(), answer["errors"].end());
    return out;
}

Result<std::vector<json>> ForkAnswer::all() const {
    if (!errors.empty())
        return fail(fmt::format("fork: {} of the forks failed, the first: {}", errors.size(), errors.front().dump()));
    return instances;
}

Result<ForkAnswer> Client::fork_template(const std::string& template_id, const json& request, int timeout_ms) {
    json answer = TRY(call("POST", "/templates/" + template_id + "/fork", request, timeout_ms));
    return parse_fork_answer(answer);
}

Result<Reply> Client::fork_template_lines(const std::string& template_id, json request, const ForkLineFn& on_line,
                                         int idle_timeout_ms) {
    request["stream"] = true;
    std::string path = "/templates/" + template_id + "/fork";
    Result<void> bad_line;
    auto reply = TRY(stream("POST", path, line_reader([&](std::string_view text) {
        json line = json::parse(text, nullptr, false);
        if (!line.is_object() || !line.contains("event") || !line["event"].is_string()) {
            bad_line = fail(fmt::format("POST {}: unexpected line {}", path, text.substr(0, 200)));
            return false;
        }
        if (on_line) on_line(line);
        return true;
    }), request, idle_timeout_ms));
    TRY(bad_line);
    return reply;
}

Result<ForkAnswer> Client::fork_template_streaming(const std::string& template_id, json request,
                                                  const ForkLineFn& on_line, int idle_timeout_ms) {
    std::string path = "/templates/" + template_id + "/fork";
    ForkAnswer answer;
    std::optional<json> done;
    auto reply = TRY(fork_template_lines(template_id, std::move(request), [&](const json& line) {
        const std::string& event = line["event"].get_ref<const std::string&>();
        if (event == "fork" && line.contains("instance") && line["instance"].is_object())
            answer.instances.push_back(line["instance"]);
        else if (event == "error") answer.errors.push_back(line);
        else if (event == "done") done = line;
        if (on_line) on_line(line);
    }, idle_timeout_ms));
    if (!reply.ok())
        return fail(fmt::format("POST {}: HTTP {} {}: {}", path, reply.status, reply.error_code(), reply.error_message()));
    if (!done) return fail(fmt::format("POST {}: the answer ended before its \"done\" line", path));
    if (done->contains("code") && answer.instances.empty()) {
        // Typed reads: a field of another type is shown as empty, never thrown on.
        auto text = [&](const char* key) {
            auto it = done->find(key);
            return it != done->end() && it->is_string() ? it->get<std::string>() : std::string();
        };
        auto status = done->find("status");
        return fail(fmt::format("POST {}: HTTP {} {}: {}", path,
                                status != done->end() && status->is_number_integer() ? status->get<int64_t>() : 0,
                                text("code"), text("message")));
    }
    return answer;
}

http::Client::DataFn line_reader(std::function<bool(std::string_view line)> on_line) {
    auto pending = std::make_shared<std::string>();
    return [pending, on_line = std::move(on_line)](std::string_view data) {
        pending->append(data);
        size_t start = 0;
        for (size_t nl; (nl = pending->find('\n', start)) != std::string::npos; start = nl + 1) {
            std::string_view line(pending->data() + start, nl - start);
            if (!line.empty() && !on_line(line)) return false;
        }
        pending->erase(0, start);
        return pending->size() <= (size_t{1} << 20);
    };
}

Result<void> in_parallel(const std::string& address, size_t n, size_t threads,
                         const std::function<Result<void>(size_t, Client&)>& fn) {
    std::atomic<size_t> next{0};
    std::mutex mutex;
    std::optional<Error> first_error;
    auto worker = [&] {
        auto c = Client::connect(address);
        for (size_t i; (i = next.fetch_add(1)) < n;) {
            auto done = c ? fn(i, *c) : Result<void>(fail(c.error()));
            if (!done) {
                std::lock_guard lock(mutex);
                if (!first_error) first_error = done.error();
                next = n; // stop handing out work
                return;
            }
        }
    };
    std::vector<std::thread> pool;
    for (size_t t = 0; t < std::min(n, std::max<size_t>(threads, 1)); ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    if (first_error) return fail(std::move(*first_error));
    return {};
}

} // namespace brood::client
