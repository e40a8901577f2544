// HTTP/1.1 request parsing as a server connection does it: heads, request
// lines, Content-Length and chunked bodies, keep-alive, then routing. The
// input is the byte stream a client sent before closing its side.
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/http/conn.hpp"
#include "common/http/router.hpp"
#include "common/http/wire.hpp"

using namespace brood;
using namespace brood::http;

namespace {

// A socket buffer holds this much without a reader.
constexpr size_t kMaxInput = 64 * 1024;

const Router& router() {
    static const Router r = [] {
        Router out;
        auto echo = [](Request& req) {
            Response resp;
            resp.body = req.body;
            for (const auto& p : req.path_params) resp.body += p;
            if (auto v = req.query_param("follow")) resp.body += *v;
            return resp;
        };
        out.add("GET", "/version", echo);
        out.add("POST", "/instances", echo);
        out.add("GET", "/instances/{id}", echo);
        out.add("POST", "/instances/{id}/fork", echo);
        out.add("DELETE", "/templates/{id}", echo);
        return out;
    }();
    return r;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > kMaxInput) return 0;
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
    int sndbuf = static_cast<int>(2 * kMaxInput);
    ::setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    size_t done = 0;
    while (done < size) {
        ssize_t n = ::write(fds[1], data + done, size - done);
        if (n <= 0) std::abort();
        done += static_cast<size_t>(n);
    }
    ::close(fds[1]);
    Conn conn{UniqueFd(fds[0])};
    Limits limits{.max_head_bytes = 4096, .max_body_bytes = 16 * 1024};
    for (int i = 0; i < 8; ++i) {
        auto head = read_head(conn, limits, deadline_in(1000), deadline_in(1000));
        if (!head) break;
        (void)parse_status_line(head->start_line);
        auto line = parse_request_line(head->start_line);
        if (!line) break;
        Request request;
        request.method = line->method;
        request.path = line->path;
        request.query = line->query;
        request.headers = std::move(head->headers);
        (void)request.header("authorization");
        auto body = read_body(conn, request.headers, limits.max_body_bytes, false, deadline_in(1000));
        if (!body) break;
        request.body = std::move(*body);
        Response response = router().dispatch(request);
        (void)format_response_head(response, !wants_close(request.headers), response.body.size());
    }
    return 0;
}
