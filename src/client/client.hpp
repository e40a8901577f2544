// The client of broodd's REST API (docs/api.md): one keep-alive connection,
// JSON in and out. Transport failures are errors; HTTP answers are Replies,
// or errors too through call().
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http/client.hpp"
#include "common/result.hpp"

namespace brood::client {

struct Reply {
    int status = 0;
    nlohmann::json body; // parsed when the answer is JSON (null otherwise)
    std::string text;    // the raw body
    std::string content_type;

    bool ok() const { return status / 100 == 2; }
    // The API's error object: {"code": ..., "message": ...} ("" when absent).
    std::string error_code() const;
    std::string error_message() const; // the message, else the raw body
};

// A template fork answer: {"instances": [...], "errors": [...]}.
struct ForkAnswer {
    std::vector<nlohmann::json> instances;
    std::vector<nlohmann::json> errors; // {"index", "name", "code", "message"} each
    // The instances, or an error naming the first failure when any failed.
    [[nodiscard]] Result<std::vector<nlohmann::json>> all() const;
};

class Client final {
public:
    // `address`: a unix socket path, or "tcp://host:port". `token`: the
    // bearer token a TCP listener wants ("" for none).
    [[nodiscard]] static Result<Client> connect(const std::string& address, const std::string& token = "");

    // The answer, whatever its status. Errors: transport only (ETIMEDOUT
    // when no answer came within timeout_ms).
    [[nodiscard]] Result<Reply> request(std::string_view method, const std::string& path,
                                        const nlohmann::json& body = nullptr, int timeout_ms = 120'000);
    // The body of a 2xx answer (null when empty); any other status is an
    // error "METHOD PATH: HTTP 404 not_found: message".
    [[nodiscard]] Result<nlohmann::json> call(std::string_view method, const std::string& path,
                                              const nlohmann::json& body = nullptr, int timeout_ms = 120'000);
    // A request with a raw body (a file upload), answered as request() does.
    [[nodiscard]] Result<Reply> request_bytes(std::string_view method, const std::string& path, std::string_view body,
                                              int timeout_ms = 120'000);
    // A streamed answer (logs with follow=1): `on_data` gets each piece.
    // The Reply holds the status, and the body only when it is not 2xx.
    [[nodiscard]] Result<Reply> stream(std::string_view method, const std::string& path,
                                       const http::Client::DataFn& on_data, const nlohmann::json& body = nullptr,
                                       int idle_timeout_ms = -1);

    // GET /version answers.
    [[nodiscard]] Result<nlohmann::json> version() { return call("GET", "/version", nullptr, 2'000); }
    // POST /templates/{id}/fork: the forks made and those that failed (a
    // fan-out that made none fails).
    [[nodiscard]] Result<ForkAnswer> fork_template(const std::string& template_id,
                                                          const nlohmann::json& request, int timeout_ms = 600'000);
    // The same with "stream": true: `on_line` gets each line of the answer
    // as it arrives ({"event": "fork"|"error"|"done", ...}); the answer
    // gathers the forks and errors. A request refused before any fork (an
    // unknown template, the admission limits) is an error, as above.
    // `idle_timeout_ms` bounds the wait for each line (ETIMEDOUT).
    using ForkLineFn = std::function<void(const nlohmann::json& line)>;
    [[nodiscard]] Result<ForkAnswer> fork_template_streaming(const std::string& template_id, nlohmann::json request,
                                                             const ForkLineFn& on_line, int idle_timeout_ms = 600'000);
    // What fork_template_streaming stands on: each line goes to `on_line`
    // once it is known to be an object with a string "event" (any other
    // line is an error), and the Reply keeps the HTTP status and, when the
    // request was refused before any fork, the refusal.
    [[nodiscard]] Result<Reply> fork_template_lines(const std::string& template_id, nlohmann::json request,
                                                    const ForkLineFn& on_line, int idle_timeout_ms = 600'000);

private:
    explicit Client(http::Client http) : _http(std::move(http)) {}
    http::Client _http;
};

// /instances/{ref}/files?path=... for a file in the guest.
std::string guest_file_path(const std::string& ref, const std::string& guest_path);

[[nodiscard]] Result<ForkAnswer> parse_fork_answer(const nlohmann::json& answer);

// For Client::stream: cuts a streamed answer (NDJSON, text) into lines and
// gives each non-empty one, without its newline, to `on_line`, which
// returns false to stop. A line longer than 1 MiB stops the stream too.
http::Client::DataFn line_reader(std::function<bool(std::string_view line)> on_line);

// Runs fn(i, client) for i in [0, n) on up to `threads` threads, each with
// its own connection to `address`; stops handing out work at the first
// error, which it returns.
[[nodiscard]] Result<void> in_parallel(const std::string& address, size_t n, size_t threads,
                                       const std::function<Result<void>(size_t, Client&)>& fn);

} // namespace brood::client
