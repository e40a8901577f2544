#include "vmm/virtio/vsock_host_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace brood::vsock {
namespace {

std::optional<sockaddr_un> unix_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) return std::nullopt;
    std::memcpy(addr.sun_path, path.data(), path.size());
    return addr;
}

UniqueFd stream_socket() {
    return UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

} // namespace

UniqueFd connect_unix(const std::string& path) {
    auto addr = unix_address(path);
    if (!addr) return {};
    UniqueFd fd = stream_socket();
    if (!fd) return {};
    // A Unix stream connect completes at once or fails (EAGAIN: backlog full).
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) < 0) return {};
    return fd;
}

Result<HostListener> HostListener::open(const std::string& path) {
    auto addr = unix_address(path);
    if (!addr) return fail(fmt::format("vsock socket path \"{}\" is empty or too long", path));
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) return fail(fmt::format("vsock socket path {} exists and is not a socket", path));
        if (connect_unix(path)) return fail(fmt::format("vsock socket {} is in use by another process", path));
        ::unlink(path.c_str()); // left behind by a VMM that ended without cleaning up
    }
    UniqueFd fd = stream_socket();
    if (!fd) return fail_errno("vsock socket");
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) < 0)
        return fail(Error::from_errno(fmt::format("bind vsock socket {}", path)));
    ::chmod(path.c_str(), 0600);
    if (::listen(fd.get(), 128) < 0) {
        ::unlink(path.c_str());
        return fail(Error::from_errno(fmt::format("listen on vsock socket {}", path)));
    }
    return HostListener(std::move(fd), path);
}

HostListener::~HostListener() {
    if (_fd) ::unlink(_path.c_str());
}

UniqueFd HostListener::accept() const {
    return UniqueFd(::accept4(_fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

std::optional<uint32_t> parse_connect_line(std::string_view line) {
    constexpr std::string_view kVerb = "CONNECT ";
    if (!line.starts_with(kVerb)) return std::nullopt;
    std::string_view digits = line.substr(kVerb.size());
    if (digits.empty() || digits.size() > 10) return std::nullopt;
    uint64_t port = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        port = port * 10 + static_cast<uint64_t>(c - '0');
    }
    if (port > UINT32_MAX) return std::nullopt;
    return static_cast<uint32_t>(port);
}

LineStatus read_connect_line(PendingClient& client) {
    char buf[kMaxConnectLine];
    size_t room = kMaxConnectLine - client.line.size();
    if (room == 0) return LineStatus::bad;
    ssize_t n = ::recv(client.fd.get(), buf, room, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? LineStatus::incomplete : LineStatus::bad;
    if (n == 0) return LineStatus::bad; // closed before a whole line
    auto* end = static_cast<char*>(std::memchr(buf, '\n', static_cast<size_t>(n)));
    size_t take = end ? static_cast<size_t>(end - buf) + 1 : static_cast<size_t>(n);
    // Consume exactly what was peeked up to the newline.
    if (::recv(client.fd.get(), buf, take, MSG_DONTWAIT) != static_cast<ssize_t>(take)) return LineStatus::bad;
    client.line.append(buf, end ? take - 1 : take);
    if (end) return LineStatus::complete;
    return client.line.size() >= kMaxConnectLine ? LineStatus::bad : LineStatus::incomplete;
}

std::string guest_connect_path(const std::string& listener_path, uint32_t port) {
    return fmt::format("{}_{}", listener_path, port);
}

} // namespace brood::vsock
