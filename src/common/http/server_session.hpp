// One server connection: its thread reads requests, dispatches them and
// writes responses until the peer closes, an error, or the server stops.
#pragma once

#include <atomic>
#include <thread>

#include "common/http/conn.hpp"
#include "common/http/router.hpp"

namespace brood::http {

struct ServerOptions;

class Session final {
public:
    // `reject` answers the first request with 503 and closes (too many connections).
    Session(UniqueFd fd, const Router& router, const ServerOptions& options, int stop_fd, bool reject);
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session() { join(); }

    void run();
    bool finished() const { return _finished.load(); }
    void join() {
        if (_thread.joinable()) _thread.join();
    }

private:
    void serve();
    // False when the connection must close after this exchange.
    bool serve_one();
    bool send(Response response, bool keep_alive);
    bool send_stream(const Response& response, bool keep_alive);
    bool authorized(const Request& request) const;

    Conn _conn;
    const Router& _router;
    const ServerOptions& _options;
    int _stop_fd;
    bool _reject;
    std::atomic<bool> _finished{false};
    std::thread _thread;
};

} // namespace brood::http
