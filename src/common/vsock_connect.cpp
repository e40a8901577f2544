#include "common/vsock_connect.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include <fmt/format.h>

namespace brood {
namespace {

using Clock = std::chrono::steady_clock;

// Longer than any "OK <u32>\n".
constexpr size_t kMaxReply = 32;

int millis_left(Clock::time_point deadline) {
    // Rounded up: a wait never ends before the deadline.
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

} // namespace

Result<UniqueFd> connect_vsock(const std::string& socket_path, uint32_t port, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    std::string what = fmt::format("vsock port {} through {}", port, socket_path);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path))
        return fail(fmt::format("{}: the socket path is empty or too long", what));
    std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("socket");
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0)
        return fail(Error::from_errno(fmt::format("{}: connect", what)));
    std::string request = fmt::format("CONNECT {}\n", port);
    if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
        return fail(Error::from_errno(fmt::format("{}: send the CONNECT line", what)));
    // One byte at a time: the guest's first bytes may follow the newline.
    std::string reply;
    while (reply.empty() || reply.back() != '\n') {
        pollfd p{fd.get(), POLLIN, 0};
        int ready = ::poll(&p, 1, millis_left(deadline));
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) return fail(fmt::format("{}: the guest did not answer in {} ms", what, timeout.count()), ETIMEDOUT);
        char c;
        ssize_t n = ::recv(fd.get(), &c, 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return fail(fmt::format("{}: refused (nothing listens on that guest port, or the VMM is at its limit)",
                                    what),
                        ECONNREFUSED);
        reply += c;
        if (reply.size() > kMaxReply) return fail(fmt::format("{}: the answer is not \"OK <port>\"", what), EPROTO);
    }
    if (!reply.starts_with("OK ") || reply.size() < 5)
        return fail(fmt::format("{}: the answer is not \"OK <port>\": {}", what, reply.substr(0, reply.size() - 1)),
                    EPROTO);
    return fd;
}

} // namespace brood
