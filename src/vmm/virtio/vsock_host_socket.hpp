// The host side's front door, as in Firecracker's vsock: the VMM listens on a
// Unix socket; a host program connects and writes "CONNECT <port>\n"; once
// the guest accepts, it reads "OK <local-port>\n" and then the stream.
// Connections the guest opens to the host on port P go to the Unix socket
// "<path>_P", which a host program listens on.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/virtio/vsock_connection.hpp"

namespace brood::vsock {

// The longest CONNECT line accepted, newline included.
constexpr size_t kMaxConnectLine = 32;

class HostListener final {
public:
    // Listens on `path`. A leftover socket nobody listens on is replaced;
    // a live one, or any other file, is an error.
    static Result<HostListener> open(const std::string& path);
    HostListener(HostListener&&) = default;
    HostListener& operator=(HostListener&&) = default;
    ~HostListener();

    int fd() const { return _fd.get(); }
    const std::string& path() const { return _path; }
    // A non-blocking, close-on-exec accepted socket, or an invalid fd.
    UniqueFd accept() const;

private:
    HostListener(UniqueFd fd, std::string path) : _fd(std::move(fd)), _path(std::move(path)) {}
    UniqueFd _fd;
    std::string _path;
};

// "CONNECT 52" (the line without its newline) -> 52.
std::optional<uint32_t> parse_connect_line(std::string_view line);

// A host program that connected and has not finished its CONNECT line.
struct PendingClient {
    UniqueFd fd;
    std::string line;
    Clock::time_point deadline;
};

enum class LineStatus { incomplete, complete, bad };
// Reads what has arrived of the line, never past its newline: bytes after it
// are the stream's first bytes and stay in the socket. `complete` leaves the
// line, newline stripped, in client.line.
LineStatus read_connect_line(PendingClient& client);

// "<path>_<port>": where a guest's connection to host port `port` goes.
std::string guest_connect_path(const std::string& listener_path, uint32_t port);
// A connected non-blocking socket to `path`, or invalid when nobody listens.
UniqueFd connect_unix(const std::string& path);

} // namespace brood::vsock
