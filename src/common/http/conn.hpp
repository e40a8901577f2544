// A buffered, deadline-aware byte stream over one connected socket.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace brood::http {

using Clock = std::chrono::steady_clock;
// No value means "wait forever".
using Deadline = std::optional<Clock::time_point>;

// A deadline `ms` milliseconds from now; a negative `ms` means none.
Deadline deadline_in(int ms);

// Errors carry an errno the caller can branch on:
//   ETIMEDOUT  deadline passed        ECONNRESET  peer closed the stream
//   ECANCELED  the cancel fd fired    EMSGSIZE    a line was longer than allowed
class Conn final {
public:
    explicit Conn(UniqueFd fd) : _fd(std::move(fd)) {}
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;
    Conn(Conn&&) noexcept = default;
    Conn& operator=(Conn&&) noexcept = default;
    ~Conn() = default;

    int fd() const { return _fd.get(); }
    // While waiting, also watch this fd; when it becomes readable, fail with ECANCELED.
    void set_cancel_fd(int fd) { _cancel_fd = fd; }

    // Reads more bytes into the buffer (at least one).
    [[nodiscard]] Result<void> fill(Deadline deadline);
    // Reads what the socket holds now, without waiting: the number of bytes
    // added (0 when none were ready), ECONNRESET once the peer closed.
    [[nodiscard]] Result<size_t> fill_now();
    // The received bytes not consumed yet.
    std::string_view buffered() const { return std::string_view(_buf).substr(_pos); }
    // One line without its "\n" or "\r\n"; at most `max` bytes.
    [[nodiscard]] Result<std::string> read_line(size_t max, Deadline deadline);
    [[nodiscard]] Result<std::string> read_exact(size_t n, Deadline deadline);
    // Everything until the peer closes, at most `max` bytes.
    [[nodiscard]] Result<std::string> read_to_end(size_t max, Deadline deadline);
    [[nodiscard]] Result<void> write_all(std::string_view data, Deadline deadline);

    bool has_buffered() const { return _pos < _buf.size(); }
    // True once the peer hung up (checked without blocking).
    bool peer_closed() const;
    void shutdown();

private:
    [[nodiscard]] Result<void> wait(short events, Deadline deadline);
    void compact();

    UniqueFd _fd;
    int _cancel_fd = -1;
    std::string _buf;
    size_t _pos = 0;
};

} // namespace brood::http
