#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <system_error>

#include "common/http/server_impl.hpp"
#include "common/http/server_session.hpp"

namespace brood::http {

namespace {

constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr auto kSweepEvery = std::chrono::milliseconds(100);
constexpr int kMaxAcceptsPerWake = 64;

bool add_to_epoll(int epoll, int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    return ::epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void drain_eventfd(int fd) {
    uint64_t value = 0;
    (void)!::read(fd, &value, sizeof value);
}

} // namespace

Result<void> Server::Impl::prepare_loop() {
    epoll = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) return fail_errno("epoll_create1");
    wake = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake) return fail_errno("eventfd");
    if (!add_to_epoll(epoll.get(), listener.get(), EPOLLIN) || !add_to_epoll(epoll.get(), stop_event.get(), EPOLLIN) ||
        !add_to_epoll(epoll.get(), wake.get(), EPOLLIN))
        return fail_errno("epoll_ctl");
    return {};
}

size_t Server::Impl::connection_count() {
    std::lock_guard lock(mutex);
    return waiting.size() + busy;
}

void Server::Impl::run_loop() {
    auto last_sweep = Clock::now();
    std::array<epoll_event, 64> events{};
    for (;;) {
        int timeout = waiting.empty() && !accept_paused ? 1000 : 100;
        int n = ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), timeout);
        if (n < 0 && errno != EINTR) {
            std::this_thread::sleep_for(kAcceptPause); // cannot happen with a valid epoll fd; never spin
            continue;
        }
        for (int i = 0; i < n; ++i) {
            int fd = events[static_cast<size_t>(i)].data.fd;
            if (fd == stop_event.get()) return;
            if (fd == wake.get()) {
                drain_eventfd(fd);
                take_returned();
            } else if (fd == listener.get()) {
                accept_ready();
            } else {
                read_ready(fd);
            }
        }
        auto now = Clock::now();
        if (accept_paused && now >= accept_paused_until) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = listener.get();
            accept_paused = ::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, listener.get(), &ev) != 0;
        }
        if (now - last_sweep >= kSweepEvery) {
            sweep_deadlines();
            last_sweep = now;
        }
    }
}

void Server::Impl::pause_accept(Clock::time_point now) {
    epoll_event ev{};
    ev.data.fd = listener.get();
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, listener.get(), &ev) == 0) {
        accept_paused = true;
        accept_paused_until = now + kAcceptPause;
    }
}

void Server::Impl::accept_ready() {
    for (int i = 0; i < kMaxAcceptsPerWake; ++i) {
        int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            admit(UniqueFd(fd));
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        // Out of descriptors or memory: free the longest-waiting connection
        // and try again, or stop accepting for a moment.
        if ((errno == EMFILE || errno == ENFILE) && evict_oldest()) continue;
        pause_accept(Clock::now());
        return;
    }
}

void Server::Impl::admit(UniqueFd fd) {
    auto owned = std::make_unique<ServerConnection>(std::move(fd));
    owned->conn.set_cancel_fd(stop_event.get());
    if (connection_count() >= options.max_connections) take_returned(); // those are idle, not busy
    if (connection_count() >= options.max_connections && !evict_oldest()) {
        send_now(owned->conn, error(503, "busy", "too many connections"));
        return;
    }
    int raw = owned->conn.fd();
    if (!add_to_epoll(epoll.get(), raw, EPOLLIN | EPOLLRDHUP)) return;
    owned->deadline = Clock::now() + std::chrono::milliseconds(options.idle_timeout_ms);
    waiting.push_back(std::move(owned));
    by_fd[raw] = std::prev(waiting.end());
}

bool Server::Impl::evict_oldest() {
    if (waiting.empty()) return false;
    close_waiting(waiting.begin(), nullptr);
    return true;
}

void Server::Impl::close_waiting(std::list<Owned>::iterator it, const Response* last_words) {
    int fd = (*it)->conn.fd();
    if (last_words) send_now((*it)->conn, *last_words);
    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
    by_fd.erase(fd);
    waiting.erase(it);
}

void Server::Impl::read_ready(int fd) {
    auto found = by_fd.find(fd);
    if (found == by_fd.end()) return;
    auto it = found->second;
    auto got = (*it)->conn.fill_now();
    if (!got) {
        close_waiting(it, nullptr);
        return;
    }
    if (*got > 0) advance(it);
}

// Looks at the bytes received so far: starts the read deadline, hands a
// complete request to a worker, refuses an oversized head.
void Server::Impl::advance(std::list<Owned>::iterator it) {
    ServerConnection& c = **it;
    if (c.conn.buffered().empty()) return;
    auto now = Clock::now();
    auto read_deadline = now + std::chrono::milliseconds(options.read_timeout_ms);
    if (!c.started) {
        c.started = true;
        c.deadline = read_deadline;
    }
    bool head_was_done = c.framer.head_done();
    auto size = c.framer.scan(c.conn.buffered(), options.limits);
    if (!size) {
        Response refused = error(431, "headers_too_large", size.error().message());
        close_waiting(it, &refused);
        return;
    }
    if (*size) {
        hand_to_worker(it);
        return;
    }
    if (!head_was_done && c.framer.head_done()) c.deadline = read_deadline; // the body's own time
}

void Server::Impl::sweep_deadlines() {
    auto now = Clock::now();
    static const Response timed_out = error(408, "request_timeout", "request not received in time");
    for (auto it = waiting.begin(); it != waiting.end();) {
        auto next = std::next(it);
        if (now >= (*it)->deadline) close_waiting(it, (*it)->started ? &timed_out : nullptr);
        it = next;
    }
}

void Server::Impl::hand_to_worker(std::list<Owned>::iterator it) {
    int fd = (*it)->conn.fd();
    ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd, nullptr);
    by_fd.erase(fd);
    Owned owned = std::move(*it);
    waiting.erase(it);
    std::unique_lock lock(mutex);
    if (idle_workers == 0 && workers.size() < options.max_workers) {
        try {
            workers.emplace_back([this] { worker_main(); });
        } catch (const std::system_error&) {
            if (workers.empty()) { // no thread at all can serve it
                lock.unlock();
                send_now(owned->conn, error(503, "busy", "cannot start a worker thread"));
                return;
            }
        }
    }
    ++busy;
    queue.push_back(std::move(owned));
    work_ready.notify_one();
}

void Server::Impl::take_returned() {
    std::vector<Owned> back;
    {
        std::lock_guard lock(mutex);
        back.swap(returned);
        busy -= back.size();
    }
    auto now = Clock::now();
    for (Owned& owned : back) {
        int fd = owned->conn.fd();
        if (!add_to_epoll(epoll.get(), fd, EPOLLIN | EPOLLRDHUP)) continue;
        owned->framer.reset();
        owned->started = false;
        owned->deadline = now + std::chrono::milliseconds(options.idle_timeout_ms);
        waiting.push_back(std::move(owned));
        by_fd[fd] = std::prev(waiting.end());
        advance(std::prev(waiting.end())); // a pipelined request may be complete already
    }
}

void Server::Impl::worker_main() {
    for (;;) {
        Owned owned;
        {
            std::unique_lock lock(mutex);
            ++idle_workers;
            work_ready.wait(lock, [this] { return stopped || !queue.empty(); });
            --idle_workers;
            if (stopped) return;
            owned = std::move(queue.front());
            queue.pop_front();
        }
        bool keep = false;
        try {
            keep = serve_request(owned->conn, router, options, stop_event.get());
        } catch (...) {
            keep = false; // out of memory or a bug: drop this connection, keep serving
        }
        std::unique_lock lock(mutex);
        if (keep && !stopped) {
            returned.push_back(std::move(owned));
            uint64_t one = 1;
            (void)!::write(wake.get(), &one, sizeof one);
        } else {
            --busy;
            lock.unlock();
            owned.reset();
        }
    }
}

void Server::Impl::stop_workers() {
    std::vector<std::thread> threads;
    {
        std::lock_guard lock(mutex);
        stopped = true;
        threads.swap(workers);
    }
    work_ready.notify_all();
    for (auto& t : threads) t.join();
    std::lock_guard lock(mutex);
    queue.clear();
    returned.clear();
    busy = 0;
}

} // namespace brood::http
