#include "common/http/server_session.hpp"

#include <poll.h>
#include <sys/socket.h>

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

Response dispatch_guarded(const Router& router, Request& request) {
    try {
        return router.dispatch(request);
    } catch (const std::exception& e) {
        return error(500, "internal", e.what());
    } catch (...) {
        return error(500, "internal", "unexpected exception");
    }
}

namespace {

bool authorized(const Request& request, const ServerOptions& options) {
    if (options.bearer_token.empty()) return true;
    std::string value = request.header("authorization");
    const std::string prefix = "Bearer ";
    if (value.size() <= prefix.size() || value.compare(0, prefix.size(), prefix) != 0) return false;
    return constant_time_equal(value.substr(prefix.size()), options.bearer_token);
}

bool send(Conn& conn, const ServerOptions& options, Response response, bool keep_alive) {
    if (response.status == 204) response.body.clear();
    std::string out = format_response_head(response, keep_alive, response.body.size());
    out += response.body;
    return conn.write_all(out, deadline_in(options.write_timeout_ms)).has_value();
}

bool send_stream(Conn& conn, const ServerOptions& options, int stop_fd, const Response& response,
                 bool keep_alive) {
    std::string head = format_response_head(response, keep_alive, 0);
    if (!conn.write_all(head, deadline_in(options.write_timeout_ms))) return false;
    SessionChunkWriter writer(conn, stop_fd, options.write_timeout_ms);
    try {
        response.stream(writer);
    } catch (...) {
        return false; // the head is out already: closing is the only signal left
    }
    if (!writer.ok()) return false;
    return conn.write_all("0\r\n\r\n", deadline_in(options.write_timeout_ms)).has_value();
}

} // namespace

void send_now(Conn& conn, const Response& response) {
    std::string out = format_response_head(response, false, response.body.size()) + response.body;
    (void)!::send(conn.fd(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

bool serve_request(Conn& conn, const Router& router, const ServerOptions& options, int stop_fd) {
    auto head = read_head(conn, options.limits, deadline_in(options.read_timeout_ms),
                          deadline_in(options.read_timeout_ms));
    if (!head) {
        int err = head.error().errno_value();
        if (err == ECONNRESET || err == ECANCELED || (err == ETIMEDOUT && !conn.has_buffered())) return false;
        int status = status_for(head.error());
        send(conn, options, error(status, code_for(status), head.error().message()), false);
        return false;
    }
    auto line = parse_request_line(head->start_line);
    if (!line) {
        send(conn, options, error(400, "bad_request", line.error().message()), false);
        return false;
    }
    Request request;
    request.method = std::move(line->method);
    request.path = std::move(line->path);
    request.query = std::move(line->query);
    request.headers = std::move(head->headers);
    bool http10 = head->start_line.ends_with("HTTP/1.0");
    bool keep_alive = !http10 && !wants_close(request.headers);
    auto body = read_body(conn, request.headers, options.limits.max_body_bytes, false,
                          deadline_in(options.read_timeout_ms));
    if (!body) {
        int err = body.error().errno_value();
        if (err == ECONNRESET || err == ECANCELED) return false;
        int status = status_for(body.error());
        send(conn, options, error(status, code_for(status), body.error().message()), false);
        return false;
    }
    request.body = std::move(*body);
    if (!authorized(request, options)) {
        Response denied = error(401, "unauthorized", "missing or wrong bearer token");
        denied.headers["WWW-Authenticate"] = "Bearer";
        return send(conn, options, std::move(denied), keep_alive) && keep_alive;
    }
    Response response = dispatch_guarded(router, request);
    if (response.stream) return send_stream(conn, options, stop_fd, response, keep_alive) && keep_alive;
    return send(conn, options, std::move(response), keep_alive) && keep_alive;
}

} // namespace brood::http
