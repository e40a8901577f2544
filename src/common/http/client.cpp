#include "common/http/client.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "common/http/wire.hpp"

namespace brood::http {

namespace {

constexpr size_t kMaxResponseBody = 256 * 1024 * 1024;

Result<UniqueFd> dial_unix(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) return fail("socket path too long: " + path, ENAMETOOLONG);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return fail_errno("connect " + path);
    return fd;
}

Result<UniqueFd> dial_tcp(const std::string& host, uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    std::string service = std::to_string(port);
    int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
    if (rc != 0) return fail("resolve " + host + ": " + ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, ::freeaddrinfo);
    Error last("connect " + host + ":" + service + ": no address");
    for (addrinfo* ai = found; ai; ai = ai->ai_next) {
        UniqueFd fd(::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd) continue;
        if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) return fd;
        last = Error::from_errno("connect " + host + ":" + service);
    }
    return fail(std::move(last));
}

} // namespace

Result<Client> Client::connect_unix(const std::string& path) {
    Client client(Address{true, path, 0});
    TRY(client.ensure_connected());
    return client;
}

Result<Client> Client::connect_tcp(const std::string& host, uint16_t port) {
    Client client(Address{false, host, port});
    TRY(client.ensure_connected());
    return client;
}

Result<Client> connect(const std::string& address) {
    const std::string prefix = "tcp://";
    if (address.rfind(prefix, 0) != 0) return Client::connect_unix(address);
    std::string rest = address.substr(prefix.size());
    size_t colon = rest.rfind(':');
    if (colon == std::string::npos) return fail("address needs a port: " + address, EINVAL);
    std::string host = rest.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    int port = std::atoi(rest.c_str() + colon + 1);
    if (port <= 0 || port > 65535) return fail("bad port in " + address, EINVAL);
    return Client::connect_tcp(host, static_cast<uint16_t>(port));
}

Result<void> Client::ensure_connected() {
    if (_conn) return {};
    UniqueFd fd = _address.is_unix ? TRY(dial_unix(_address.path_or_host))
                                   : TRY(dial_tcp(_address.path_or_host, _address.port));
    _conn = std::make_unique<Conn>(std::move(fd));
    return {};
}

Result<Response> Client::request(std::string_view method, std::string_view target, std::string_view body,
                                 int timeout_ms) {
    return exchange(method, target, body, deadline_in(timeout_ms), nullptr, -1);
}

Result<Response> Client::stream(std::string_view method, std::string_view target, const DataFn& on_data,
                                int idle_timeout_ms, std::string_view body) {
    return exchange(method, target, body, std::nullopt, &on_data, idle_timeout_ms);
}

Result<Response> Client::exchange(std::string_view method, std::string_view target, std::string_view body,
                                  Deadline deadline, const DataFn* on_data, int idle_ms) {
    Headers headers;
    headers["Host"] = "localhost";
    if (!body.empty()) headers["Content-Type"] = "application/json";
    if (!_token.empty()) headers["Authorization"] = "Bearer " + _token;
    std::string wire = format_request(method, target, headers, body);
    // A kept-alive connection may have been closed by the server meanwhile:
    // retry once on a fresh connection when nothing at all came back.
    for (int attempt = 0; attempt < 2; ++attempt) {
        bool reused = _conn != nullptr;
        TRY(ensure_connected());
        auto sent = _conn->write_all(wire, deadline);
        Result<Response> answer = sent ? read_response(deadline, on_data, idle_ms, method)
                                       : Result<Response>(tl::unexpected(sent.error()));
        if (answer) return answer;
        _conn.reset();
        bool stale = reused && answer.error().errno_value() == ECONNRESET;
        if (!stale || attempt == 1) return fail(std::move(answer.error()).context(std::string(method) + " " + std::string(target)));
    }
    return fail("unreachable");
}

Result<Response> Client::read_response(Deadline deadline, const DataFn* on_data, int idle_ms,
                                       std::string_view method) {
    Limits limits;
    limits.max_head_bytes = 64 * 1024;
    Deadline head_deadline = on_data ? deadline_in(idle_ms) : deadline;
    Head head = TRY(read_head(*_conn, limits, head_deadline, head_deadline));
    Response response;
    response.status = TRY(parse_status_line(head.start_line));
    response.headers = std::move(head.headers);
    auto ct = response.headers.find("content-type");
    response.content_type = ct == response.headers.end() ? "" : ct->second;
    bool close_after = wants_close(response.headers);
    bool no_body = response.status == 204 || response.status == 304 || response.status < 200 || method == "HEAD";
    bool ok = response.status >= 200 && response.status < 300;
    if (!no_body && on_data && ok && is_chunked(response.headers)) {
        for (;;) {
            auto chunk = TRY(read_chunk(*_conn, kMaxResponseBody, deadline_in(idle_ms)));
            if (!chunk) break;
            if (!(*on_data)(*chunk)) {
                _conn.reset();
                return response;
            }
        }
    } else if (!no_body) {
        response.body = TRY(read_body(*_conn, response.headers, kMaxResponseBody, true,
                                      on_data ? deadline_in(idle_ms) : deadline));
        if (on_data && ok) {
            if (!response.body.empty()) (*on_data)(response.body);
            response.body.clear();
        }
    }
    if (close_after) _conn.reset();
    return response;
}

} // namespace brood::http
