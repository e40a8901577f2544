// An HTTP/1.1 server on a unix or TCP socket: one event-loop thread accepts
// connections and waits for whole requests, a bounded pool of workers runs
// the handlers (see server_impl.hpp). Keep-alive, Content-Length or chunked
// bodies, streaming (chunked) responses. RAII: destruction stops it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/http/router.hpp"
#include "common/http/wire.hpp"
#include "common/result.hpp"

namespace brood::http {

struct ServerOptions {
    Limits limits;
    int idle_timeout_ms = 60'000;  // keep-alive wait for the next request
    int read_timeout_ms = 10'000;  // for the head from its first byte, then again for the body (else 408)
    int write_timeout_ms = 10'000;
    // Open connections. Past it, the connection waiting longest for its next
    // request is closed; when all are busy with a handler, new ones get 503.
    size_t max_connections = 256;
    size_t max_workers = 32; // threads running handlers (a streaming answer holds one)
    // When not empty, every request needs "Authorization: Bearer <token>" (else 401).
    std::string bearer_token;
};

class Server final {
public:
    // Refuses when `path` exists ("control socket path exists", EEXIST).
    static Result<Server> listen_unix(const std::string& path, mode_t mode, ServerOptions options = {});
    // Port 0 picks a free port; see port().
    static Result<Server> listen_tcp(const std::string& host, uint16_t port, ServerOptions options = {});

    Server(Server&&) noexcept;
    Server& operator=(Server&&) noexcept;
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    ~Server();

    // Serves on a background thread until stop().
    [[nodiscard]] Result<void> start(Router router);
    // Closes the listener and every connection, joins all threads, and
    // unlinks the unix socket. Idempotent.
    void stop();

    uint16_t port() const;

    struct Impl;

private:
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> _impl;
};

} // namespace brood::http
