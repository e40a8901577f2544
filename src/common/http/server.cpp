#include "common/http/server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

#include "common/http/server_session.hpp"

namespace brood::http {

struct Server::Impl {
    UniqueFd listener;
    UniqueFd stop_event; // eventfd: readable once stop() began
    std::string unix_path;
    ino_t unix_inode = 0;
    uint16_t port = 0;
    ServerOptions options;
    Router router;
    std::thread acceptor;
    std::mutex mutex;
    std::list<std::unique_ptr<Session>> sessions;
    bool started = false;
    bool stopped = false;

    void accept_loop();
    void reap_finished();
};

namespace {

Result<UniqueFd> make_stop_event() {
    int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) return fail_errno("eventfd");
    return UniqueFd(fd);
}

} // namespace

Server::Server(std::unique_ptr<Impl> impl) : _impl(std::move(impl)) {}
Server::Server(Server&&) noexcept = default;
Server& Server::operator=(Server&& other) noexcept {
    if (this != &other) {
        stop();
        _impl = std::move(other._impl);
    }
    return *this;
}
Server::~Server() { stop(); }

uint16_t Server::port() const { return _impl ? _impl->port : 0; }

Result<Server> Server::listen_unix(const std::string& path, mode_t mode, ServerOptions options) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) return fail("control socket path exists: " + path, EEXIST);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) return fail("socket path too long: " + path, ENAMETOOLONG);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return fail_errno("socket");
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (errno == EADDRINUSE) return fail("control socket path exists: " + path, EEXIST);
        return fail_errno("bind " + path);
    }
    auto impl = std::make_unique<Impl>();
    impl->unix_path = path;
    if (::chmod(path.c_str(), mode) != 0 || ::lstat(path.c_str(), &st) != 0) {
        Error e = Error::from_errno("chmod " + path);
        ::unlink(path.c_str());
        return fail(std::move(e));
    }
    impl->unix_inode = st.st_ino;
    if (::listen(fd.get(), 128) != 0) {
        Error e = Error::from_errno("listen " + path);
        ::unlink(path.c_str());
        return fail(std::move(e));
    }
    impl->listener = std::move(fd);
    impl->stop_event = TRY(make_stop_event());
    impl->options = std::move(options);
    return Server(std::move(impl));
}

Result<Server> Server::listen_tcp(const std::string& host, uint16_t port, ServerOptions options) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    std::string service = std::to_string(port);
    int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
    if (rc != 0) return fail("resolve " + host + ": " + ::gai_strerror(rc));
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, ::freeaddrinfo);
    UniqueFd fd(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return fail_errno("socket");
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), found->ai_addr, found->ai_addrlen) != 0)
        return fail_errno("bind " + host + ":" + service);
    if (::listen(fd.get(), 128) != 0) return fail_errno("listen");
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    auto impl = std::make_unique<Impl>();
    if (bound.ss_family == AF_INET)
        impl->port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    else if (bound.ss_family == AF_INET6)
        impl->port = ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    impl->listener = std::move(fd);
    impl->stop_event = TRY(make_stop_event());
    impl->options = std::move(options);
    return Server(std::move(impl));
}

Result<void> Server::start(Router router) {
    if (!_impl) return fail("server was moved from");
    if (_impl->started) return fail("server already started");
    _impl->router = std::move(router);
    _impl->started = true;
    Impl* impl = _impl.get();
    _impl->acceptor = std::thread([impl] { impl->accept_loop(); });
    return {};
}

void Server::Impl::reap_finished() {
    std::lock_guard lock(mutex);
    for (auto it = sessions.begin(); it != sessions.end();) {
        if ((*it)->finished()) {
            (*it)->join();
            it = sessions.erase(it);
        } else {
            ++it;
        }
    }
}

void Server::Impl::accept_loop() {
    for (;;) {
        pollfd fds[2] = {{listener.get(), POLLIN, 0}, {stop_event.get(), POLLIN, 0}};
        int n = ::poll(fds, 2, 1000);
        if (n < 0 && errno != EINTR) return;
        if (fds[1].revents != 0) return;
        reap_finished();
        if (n <= 0 || fds[0].revents == 0) continue;
        int fd = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(50));
            continue;
        }
        std::lock_guard lock(mutex);
        if (stopped) {
            ::close(fd);
            return;
        }
        bool over = sessions.size() >= options.max_connections;
        sessions.push_back(std::make_unique<Session>(UniqueFd(fd), router, options, stop_event.get(), over));
        sessions.back()->run();
    }
}

void Server::stop() {
    if (!_impl) return;
    Impl& impl = *_impl;
    {
        std::lock_guard lock(impl.mutex);
        if (impl.stopped) return;
        impl.stopped = true;
    }
    uint64_t one = 1;
    if (impl.stop_event && ::write(impl.stop_event.get(), &one, sizeof one) < 0) {
        // Cannot happen for an eventfd below its maximum; nothing else to do.
    }
    if (impl.acceptor.joinable()) impl.acceptor.join();
    std::list<std::unique_ptr<Session>> sessions;
    {
        std::lock_guard lock(impl.mutex);
        sessions.swap(impl.sessions);
    }
    for (auto& session : sessions) session->join();
    impl.listener.reset();
    if (!impl.unix_path.empty()) {
        struct stat st {};
        if (::lstat(impl.unix_path.c_str(), &st) == 0 && st.st_ino == impl.unix_inode)
            ::unlink(impl.unix_path.c_str());
    }
}

} // namespace brood::http
