#include "agent/server.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>

#include <atomic>
#include <cstring>
#include <thread>

namespace brood::agent {

namespace {

// A connection may idle this long between requests.
constexpr auto kIdle = std::chrono::minutes(10);
constexpr auto kAnswerWrite = std::chrono::seconds(60);

std::atomic<int> g_connections{0};

} // namespace

Result<UniqueFd> listen_vsock(uint32_t port) {
    UniqueFd fd(::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("socket(AF_VSOCK)");
    sockaddr_vm addr{};
    addr.svm_family = AF_VSOCK;
    addr.svm_port = port;
    addr.svm_cid = VMADDR_CID_ANY;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        return fail_errno("bind vsock port " + std::to_string(port));
    if (::listen(fd.get(), 64) != 0) return fail_errno("listen");
    return fd;
}

Result<UniqueFd> listen_unix(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return fail("socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return fail_errno("socket(AF_UNIX)");
    ::unlink(path.c_str());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail_errno("bind " + path);
    if (::listen(fd.get(), 64) != 0) return fail_errno("listen");
    return fd;
}

void serve_connection(UniqueFd conn, const AgentOptions& options) {
    for (;;) {
        auto request = read_frame(conn.get(), Clock::now() + kIdle);
        if (!request) {
            int e = request.error().errno_value();
            // Framing is lost: say why, then close.
            if (e == EPROTO || e == EMSGSIZE)
                (void)write_frame(conn.get(), error_frame("bad_request", request.error().message()),
                                  Clock::now() + std::chrono::seconds(5));
            return;
        }
        if (!*request) return; // closed between frames
        Frame answer = handle_request(**request, options);
        if (!write_frame(conn.get(), answer, Clock::now() + kAnswerWrite)) return;
    }
}

Result<void> serve(int listener, const AgentOptions& options) {
    for (;;) {
        int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
                if (errno != EINTR && errno != ECONNABORTED) std::this_thread::sleep_for(std::chrono::milliseconds(50));
                continue;
            }
            return fail_errno("accept");
        }
        UniqueFd conn(fd);
        if (g_connections.fetch_add(1) >= kMaxConnections) {
            g_connections.fetch_sub(1);
            (void)write_frame(conn.get(), error_frame("failed", "too many connections to the agent"),
                              Clock::now() + std::chrono::seconds(1));
            continue;
        }
        try {
            std::thread([c = std::move(conn), &options]() mutable {
                serve_connection(std::move(c), options);
                g_connections.fetch_sub(1);
            }).detach();
        } catch (const std::system_error&) { // no thread to be had: drop this one
            g_connections.fetch_sub(1);
        }
    }
}

} // namespace brood::agent
