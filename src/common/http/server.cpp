#include "common/http/server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>

#include "common/http/server_impl.hpp"

namespace brood::http {

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
    TRY(_impl->prepare_loop());
    _impl->router = std::move(router);
    _impl->started = true;
    Impl* impl = _impl.get();
    _impl->loop_thread = std::thread([impl] { impl->run_loop(); });
    return {};
}

void Server::stop() {
    if (!_impl) return;
    Impl& impl = *_impl;
    {
        std::lock_guard lock(impl.mutex);
        if (impl.stop_requested) return;
        impl.stop_requested = true;
    }
    uint64_t one = 1;
    if (impl.stop_event && ::write(impl.stop_event.get(), &one, sizeof one) < 0) {
        // Cannot happen for an eventfd below its maximum; nothing else to do.
    }
    if (impl.loop_thread.joinable()) impl.loop_thread.join();
    impl.stop_workers();
    impl.by_fd.clear();
    impl.waiting.clear();
    impl.listener.reset();
    if (!impl.unix_path.empty()) {
        struct stat st {};
        if (::lstat(impl.unix_path.c_str(), &st) == 0 && st.st_ino == impl.unix_inode)
            ::unlink(impl.unix_path.c_str());
    }
}

} // namespace brood::http
