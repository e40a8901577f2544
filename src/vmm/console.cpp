#include "vmm/console.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include <fmt/format.h>

namespace brood {
namespace {

Result<UniqueFd> listen_unix(const std::string& path) {
    sockaddr_un addr{};
    if (path.size() >= sizeof(addr.sun_path)) return fail(fmt::format("socket path too long: {}", path));
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) return fail(fmt::format("serial socket path {} exists", path));
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("socket");
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0)
        return fail_errno(fmt::format("bind {}", path));
    if (::listen(fd.get(), 4) < 0) return fail_errno("listen");
    return fd;
}

} // namespace

Result<std::shared_ptr<Console>> Console::open(const ConsoleConfig& config) {
    std::shared_ptr<Console> c(new Console());
    c->_config = config;
    c->_wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!c->_wake) return fail_errno("eventfd");
    return c;
}

Console::~Console() {
    if (_thread.joinable()) {
        uint64_t one = 1;
        (void)!::write(_wake.get(), &one, sizeof(one));
        _thread.join();
    }
    if (_writer.joinable()) {
        {
            std::lock_guard lock(_out_mutex);
            _out_stop = true; // the writer drains what is queued first
        }
        _out_cv.notify_one();
        _writer.join();
    }
    if (_listener) ::unlink(_config.socket_path.c_str());
}

void Console::write(uint8_t byte) {
    if (!_writer.joinable()) return;
    bool was_empty;
    {
        std::lock_guard lock(_out_mutex);
        if (_pending.size() >= kMaxPending) {
            ++_dropped;
            return;
        }
        was_empty = _pending.empty();
        _pending.push_back(byte);
    }
    if (was_empty) _out_cv.notify_one();
}

void Console::output_loop() {
    std::vector<uint8_t> batch;
    for (;;) {
        uint64_t dropped;
        {
            std::unique_lock lock(_out_mutex);
            _out_cv.wait(lock, [this] { return !_pending.empty() || _out_stop; });
            if (_pending.empty()) return; // stopping, and everything is written
            batch.swap(_pending);
            dropped = std::exchange(_dropped, 0);
        }
        emit(batch);
        if (dropped) {
            auto note = fmt::format("\n[brood: {} bytes of guest output dropped: the console fell behind]\n", dropped);
            emit(std::span(reinterpret_cast<const uint8_t*>(note.data()), note.size()));
        }
        batch.clear();
    }
}

void Console::emit(std::span<const uint8_t> bytes) {
    if (_log) _log->write(bytes);
    if (_config.stdio) (void)!::write(STDOUT_FILENO, bytes.data(), bytes.size());
    if (_listener) {
        std::lock_guard lock(_client_mutex);
        if (_client) (void)::send(_client.get(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
}

Result<void> Console::open_outputs() {
    // Files appear only once the VM is built: a refused VM leaves nothing.
    if (!_config.log_path.empty() && !_log) _log = TRY(RotatingLog::open(_config.log_path, _config.log_cap));
    if (!_config.socket_path.empty() && !_listener) _listener = TRY(listen_unix(_config.socket_path));
    return {};
}

Result<void> Console::start(InputSink sink) {
    TRY(open_outputs());
    _sink = std::move(sink);
    _stdin_open = _config.stdio;
    if (_log || _listener || _config.stdio) _writer = std::thread([this] { output_loop(); });
    if (!_listener && !_config.stdio) return {};
    _thread = std::thread([this] { input_loop(); });
    return {};
}

void Console::accept_client() {
    int fd = ::accept4(_listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return;
    int bufsize = 1 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
    std::lock_guard lock(_client_mutex);
    _client.reset(fd); // a new client replaces the old one
}

void Console::input_loop() {
    uint8_t buf[4096];
    for (;;) {
        pollfd fds[4];
        nfds_t n = 0;
        fds[n++] = {_wake.get(), POLLIN, 0};
        int client_fd;
        {
            std::lock_guard lock(_client_mutex);
            client_fd = _client.get();
        }
        if (_listener) fds[n++] = {_listener.get(), POLLIN, 0};
        if (client_fd >= 0) fds[n++] = {client_fd, POLLIN, 0};
        if (_stdin_open) fds[n++] = {STDIN_FILENO, POLLIN, 0};
        if (::poll(fds, n, -1) < 0) {
            if (errno == EINTR) continue;
            return;
        }
        for (nfds_t i = 0; i < n; ++i) {
            if (!fds[i].revents) continue;
            int fd = fds[i].fd;
            if (fd == _wake.get()) return;
            if (_listener && fd == _listener.get()) {
                accept_client();
                continue;
            }
            ssize_t got = ::read(fd, buf, sizeof(buf));
            if (got > 0) {
                _sink(std::span<const uint8_t>(buf, static_cast<size_t>(got)));
            } else if (fd == client_fd) {
                std::lock_guard lock(_client_mutex);
                if (_client.get() == client_fd) _client.reset();
            } else if (fd == STDIN_FILENO) {
                _stdin_open = false; // stdin closed: keep stdout only
            }
        }
    }
}

} // namespace brood
