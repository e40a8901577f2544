#include "manager/vsock_connect.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstring>

namespace brood::manager {

namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

} // namespace

Result<UniqueFd> connect_vsock(const std::string& socket_path, uint32_t port, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.size() >= sizeof addr.sun_path) return fail("vsock socket path too long: " + socket_path);
    std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("socket");
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int e = errno;
        return fail(Error::from_errno("connect " + socket_path, e == ENOENT ? ECONNREFUSED : e));
    }
    std::string hello = "CONNECT " + std::to_string(port) + "\n";
    if (::send(fd.get(), hello.data(), hello.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(hello.size()))
        return fail_errno("send CONNECT to " + socket_path);
    // Byte by byte: whatever follows the answer line belongs to the stream.
    std::string line;
    while (line.empty() || line.back() != '\n') {
        if (line.size() > 64) return fail("vsock handshake: answer line too long", EPROTO);
        pollfd p{fd.get(), POLLIN, 0};
        int wait = ms_left(deadline);
        int n = ::poll(&p, 1, wait);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("poll");
        if (n == 0) return fail("vsock handshake on " + socket_path + ": no answer within " +
                                    std::to_string(timeout_ms) + " ms",
                                ETIMEDOUT);
        char c;
        ssize_t r = ::read(fd.get(), &c, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return fail_errno("read vsock handshake");
        if (r == 0)
            return fail("vsock port " + std::to_string(port) + ": the connection was closed (nothing listens there)",
                        ECONNREFUSED);
        line.push_back(c);
    }
    if (line.rfind("OK ", 0) != 0) {
        line.pop_back();
        return fail("vsock handshake: unexpected answer \"" + line + "\"", EPROTO);
    }
    return fd;
}

} // namespace brood::manager
