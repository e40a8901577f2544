#include "common/http/conn.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>

namespace brood::http {

Deadline deadline_in(int ms) {
    if (ms < 0) return std::nullopt;
    return Clock::now() + std::chrono::milliseconds(ms);
}

Result<void> Conn::wait(short events, Deadline deadline) {
    for (;;) {
        int timeout = -1;
        if (deadline) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
            if (left.count() <= 0) return fail("timed out", ETIMEDOUT);
            timeout = static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30));
        }
        std::array<pollfd, 2> fds{};
        fds[0] = {_fd.get(), events, 0};
        fds[1] = {_cancel_fd, POLLIN, 0};
        nfds_t count = _cancel_fd >= 0 ? 2 : 1;
        int n = ::poll(fds.data(), count, timeout);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno("poll");
        }
        if (count == 2 && fds[1].revents != 0) return fail("server stopping", ECANCELED);
        if (n > 0 && fds[0].revents != 0) return {};
    }
}

void Conn::compact() {
    if (_pos > 0 && _pos == _buf.size()) {
        _buf.clear();
        _pos = 0;
    } else if (_pos > 65536) {
        _buf.erase(0, _pos);
        _pos = 0;
    }
}

Result<void> Conn::fill(Deadline deadline) {
    compact();
    std::array<char, 16384> chunk{};
    for (;;) {
        ssize_t n = ::recv(_fd.get(), chunk.data(), chunk.size(), MSG_DONTWAIT);
        if (n > 0) {
            _buf.append(chunk.data(), static_cast<size_t>(n));
            return {};
        }
        if (n == 0) return fail("connection closed by peer", ECONNRESET);
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return fail_errno("recv");
        TRY(wait(POLLIN, deadline));
    }
}

Result<size_t> Conn::fill_now() {
    compact();
    std::array<char, 16384> chunk{};
    for (;;) {
        ssize_t n = ::recv(_fd.get(), chunk.data(), chunk.size(), MSG_DONTWAIT);
        if (n > 0) {
            _buf.append(chunk.data(), static_cast<size_t>(n));
            return static_cast<size_t>(n);
        }
        if (n == 0) return fail("connection closed by peer", ECONNRESET);
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return size_t{0};
        return fail_errno("recv");
    }
}

Result<std::string> Conn::read_line(size_t max, Deadline deadline) {
    size_t scanned = _pos;
    for (;;) {
        size_t nl = _buf.find('\n', scanned);
        if (nl != std::string::npos) {
            size_t end = (nl > _pos && _buf[nl - 1] == '\r') ? nl - 1 : nl;
            if (end - _pos > max) return fail("line too long", EMSGSIZE);
            std::string line = _buf.substr(_pos, end - _pos);
            _pos = nl + 1;
            return line;
        }
        if (_buf.size() - _pos > max + 1) return fail("line too long", EMSGSIZE);
        size_t offset = _buf.size() - _pos;
        TRY(fill(deadline));
        scanned = _pos + offset;
    }
}

Result<std::string> Conn::read_exact(size_t n, Deadline deadline) {
    while (_buf.size() - _pos < n) TRY(fill(deadline));
    std::string out = _buf.substr(_pos, n);
    _pos += n;
    return out;
}

Result<std::string> Conn::read_to_end(size_t max, Deadline deadline) {
    for (;;) {
        if (_buf.size() - _pos > max) return fail("body too large", EFBIG);
        auto filled = fill(deadline);
        if (!filled) {
            if (filled.error().errno_value() != ECONNRESET) return fail(filled.error());
            std::string out = _buf.substr(_pos);
            _pos = _buf.size();
            return out;
        }
    }
}

Result<void> Conn::write_all(std::string_view data, Deadline deadline) {
    while (!data.empty()) {
        ssize_t n = ::send(_fd.get(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            TRY(wait(POLLOUT, deadline));
            continue;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return fail("connection closed by peer", ECONNRESET);
        return fail_errno("send");
    }
    return {};
}

bool Conn::peer_closed() const {
    pollfd p{_fd.get(), POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

void Conn::shutdown() {
    if (_fd) ::shutdown(_fd.get(), SHUT_RDWR);
}

} // namespace brood::http
