// The server's insides. One event-loop thread owns every connection that is
// waiting for a request: idle keep-alive connections and requests still
// arriving cost a descriptor and a buffer, never a thread. Once a request is
// complete in its buffer, the connection goes to a bounded pool of workers;
// after the answer it comes back to the loop (keep-alive) or is closed.
//
// Bounds: at most `max_connections` connections. Past it, the loop closes
// the connection that has waited longest for its next request; when every
// connection is busy with a worker, a new one gets an immediate 503. A head
// and then a body must each arrive within `read_timeout_ms` (else 408), an
// idle connection is closed after `idle_timeout_ms`. When accept fails for
// lack of descriptors, the loop closes the longest-waiting connection, or
// stops accepting for a moment: it never spins and never exits.
#pragma once

#include <array>
#include <condition_variable>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/http/server.hpp"

namespace brood::http {

struct ServerConnection {
    explicit ServerConnection(UniqueFd fd) : conn(std::move(fd)) {}
    Conn conn;
    RequestFramer framer;
    Clock::time_point deadline;
    bool started = false; // bytes of the next request arrived
};

struct Server::Impl {
    using Owned = std::unique_ptr<ServerConnection>;

    UniqueFd listener;
    UniqueFd stop_event; // eventfd: readable once stop() began
    std::string unix_path;
    ino_t unix_inode = 0;
    uint16_t port = 0;
    ServerOptions options;
    Router router;
    std::thread loop_thread;
    bool started = false;

    // Event loop state, touched by the loop thread only.
    UniqueFd epoll;
    std::list<Owned> waiting; // longest waiting first
    std::unordered_map<int, std::list<Owned>::iterator> by_fd;
    Clock::time_point accept_paused_until{};
    bool accept_paused = false;

    // Shared with the workers, under `mutex`.
    UniqueFd wake; // eventfd: a worker handed a connection back
    std::mutex mutex;
    std::condition_variable work_ready;
    std::deque<Owned> queue;     // complete requests waiting for a worker
    std::vector<Owned> returned; // kept-alive connections for the loop
    size_t busy = 0;             // connections queued, served or returned
    size_t idle_workers = 0;
    std::vector<std::thread> workers;
    bool stopped = false;        // workers must end
    bool stop_requested = false; // stop() ran

    Result<void> prepare_loop();
    void run_loop();
    void stop_workers();

private:
    void accept_ready();
    void admit(UniqueFd fd);
    bool evict_oldest();
    void read_ready(int fd);
    void advance(std::list<Owned>::iterator it);
    void close_waiting(std::list<Owned>::iterator it, const Response* last_words);
    void take_returned();
    void sweep_deadlines();
    void pause_accept(Clock::time_point now);
    void hand_to_worker(std::list<Owned>::iterator it);
    void worker_main();
    size_t connection_count();
};

} // namespace brood::http
