#include "common/http/server_session.hpp"

#include <poll.h>

#include "common/http/server.hpp"
#include "common/http/wire.hpp"

namespace brood::http {

namespace {

int status_for(const Error& e) {
    switch (e.errno_value()) {
    case EMSGSIZE: return 431;
    case EFBIG: return 413;
    case ENOTSUP: return 501;
    case ETIMEDOUT: return 408;
    default: return 400;
    }
}

std::string code_for(int status) {
    switch (status) {
    case 431: return "headers_too_large";
    case 413: return "payload_too_large";
    case 501: return "not_supported";
    case 408: return "request_timeout";
    default: return "bad_request";
    }
}

bool constant_time_equal(const std::string& a, const std::string& b) {
    if (a.size() != b.size()) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < a.size(); ++i)
        diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
    return diff == 0;
}

class SessionChunkWriter final : public ChunkWriter {
public:
    SessionChunkWriter(Conn& conn, int stop_fd, int timeout_ms)
        : _conn(conn), _stop_fd(stop_fd), _timeout_ms(timeout_ms) {}
    bool write(std::string_view data) override {
        if (!_ok || data.empty()) return _ok && open();
        _ok = _conn.write_all(format_chunk(data), deadline_in(_timeout_ms)).has_value();
        return _ok;
    }
    bool open() const override {
        if (!_ok || _conn.peer_closed()) return false;
        pollfd p{_stop_fd, POLLIN, 0};
        return ::poll(&p, 1, 0) == 0;
    }
    bool ok() const { return _ok; }

private:
    Conn& _conn;
    int _stop_fd;
    int _timeout_ms;
    bool _ok = true;
};

} // namespace

Session::Session(UniqueFd fd, const Router& router, const ServerOptions& options, int stop_fd, bool reject)
    : _conn(std::move(fd)), _router(router), _options(options), _stop_fd(stop_fd), _reject(reject) {
    _conn.set_cancel_fd(stop_fd);
}

void Session::run() {
    _thread = std::thread([this] {
        serve();
        _conn.shutdown();
        _finished.store(true);
    });
}

void Session::serve() {
    // An exception out of a thread ends the process: one connection's
    // failure closes that connection, never the daemon.
    try {
        while (serve_one()) {
        }
    } catch (const std::exception&) {
    }
}

bool Session::authorized(const Request& request) const {
    if (_options.bearer_token.empty()) return true;
    std::string value = request.header("authorization");
    const std::string prefix = "Bearer ";
    if (value.size() <= prefix.size() || value.compare(0, prefix.size(), prefix) != 0) return false;
    return constant_time_equal(value.substr(prefix.size()), _options.bearer_token);
}

bool Session::serve_one() {
    auto head = read_head(_conn, _options.limits, deadline_in(_options.idle_timeout_ms),
                          deadline_in(_options.read_timeout_ms));
    if (!head) {
        int err = head.error().errno_value();
        if (err == ECONNRESET || err == ECANCELED || (err == ETIMEDOUT && !_conn.has_buffered())) return false;
        int status = status_for(head.error());
        send(error(status, code_for(status), head.error().message()), false);
        return false;
    }
    auto line = parse_request_line(head->start_line);
    if (!line) {
        send(error(400, "bad_request", line.error().message()), false);
        return false;
    }
    Request request;
    request.method = std::move(line->method);
    request.path = std::move(line->path);
    request.query = std::move(line->query);
    request.headers = std::move(head->headers);
    bool http10 = head->start_line.ends_with("HTTP/1.0");
    bool keep_alive = !http10 && !wants_close(request.headers);
    auto body = read_body(_conn, request.headers, _options.limits.max_body_bytes, false,
                          deadline_in(_options.read_timeout_ms));
    if (!body) {
        int err = body.error().errno_value();
        if (err == ECONNRESET || err == ECANCELED) return false;
        int status = status_for(body.error());
        send(error(status, code_for(status), body.error().message()), false);
        return false;
    }
    request.body = std::move(*body);
    if (_reject) {
        send(error(503, "busy", "too many connections"), false);
        return false;
    }
    if (!authorized(request)) {
        Response denied = error(401, "unauthorized", "missing or wrong bearer token");
        denied.headers["WWW-Authenticate"] = "Bearer";
        return send(std::move(denied), keep_alive) && keep_alive;
    }
    Response response = _router.dispatch(request);
    if (response.stream) return send_stream(response, keep_alive) && keep_alive;
    return send(std::move(response), keep_alive) && keep_alive;
}

bool Session::send(Response response, bool keep_alive) {
    if (response.status == 204) response.body.clear();
    std::string out = format_response_head(response, keep_alive, response.body.size());
    out += response.body;
    return _conn.write_all(out, deadline_in(_options.write_timeout_ms)).has_value();
}

bool Session::send_stream(const Response& response, bool keep_alive) {
    std::string head = format_response_head(response, keep_alive, 0);
    if (!_conn.write_all(head, deadline_in(_options.write_timeout_ms))) return false;
    SessionChunkWriter writer(_conn, _stop_fd, _options.write_timeout_ms);
    try {
        response.stream(writer);
    } catch (const std::exception&) {
        return false; // the head is out already: closing is the only signal left
    }
    if (!writer.ok()) return false;
    return _conn.write_all("0\r\n\r\n", deadline_in(_options.write_timeout_ms)).has_value();
}

} // namespace brood::http
