#include "manager/console.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "common/unique_fd.hpp"

namespace brood::manager {

namespace {

using Clock = std::chrono::steady_clock;

Result<UniqueFd> connect_serial(const std::string& path, Clock::time_point deadline) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return fail("serial socket path too long: " + path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    for (;;) {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!fd) return fail_errno("socket");
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
        // The VMM may be between clients; retry briefly.
        if (Clock::now() >= deadline || (errno != ECONNREFUSED && errno != EAGAIN))
            return fail_errno("connect serial console " + path);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

int ms_left(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

// Appends what is readable within `wait_ms`; false on EOF.
Result<bool> read_some(int fd, std::string& out, int wait_ms) {
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, wait_ms);
    if (n < 0 && errno != EINTR) return fail_errno("poll serial console");
    if (n <= 0) return true;
    char buf[4096];
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (r < 0) return fail_errno("read serial console");
    if (r == 0) return false;
    out.append(buf, static_cast<size_t>(r));
    return true;
}

} // namespace

ConsoleCollector::ConsoleCollector(std::string until, size_t cap) : _until(std::move(until)), _cap(cap) {
    if (_until.empty()) _marker = 0;
}

void ConsoleCollector::append(std::string_view data) {
    if (complete()) return;
    if (_marker != std::string::npos) {
        // The marker is in (or none is wanted): keep its line, up to the cap.
        size_t room = _out.size() < _cap ? _cap - _out.size() : 0;
        if (data.size() > room) _truncated = true;
        _out.append(data.substr(0, room));
    } else {
        _out.append(data);
    }
    search();
    if (_marker == std::string::npos && _out.size() > 2 * _cap) {
        // Drop the oldest bytes; the search keeps its place.
        size_t drop = _out.size() - _cap;
        _out.erase(0, drop);
        _scan_from = _scan_from > drop ? _scan_from - drop : 0;
        _truncated = true;
    }
}

void ConsoleCollector::search() {
    if (_marker == std::string::npos) {
        size_t at = _out.find(_until, _scan_from);
        if (at == std::string::npos) {
            // Next time, start where a marker split across reads could begin.
            _scan_from = _out.size() >= _until.size() ? _out.size() - _until.size() + 1 : 0;
            return;
        }
        _marker = at;
        _scan_from = at + _until.size();
    }
    size_t nl = _out.find('\n', _scan_from);
    if (nl == std::string::npos) {
        _scan_from = _out.size();
        return;
    }
    _end = nl + 1;
}

ConsoleOutput ConsoleCollector::take(bool matched) {
    ConsoleOutput result;
    result.matched = matched;
    result.truncated = _truncated;
    if (complete()) _out.resize(_end);
    if (_out.size() > _cap) {
        _out.erase(0, _out.size() - _cap);
        result.truncated = true;
    }
    result.output = std::move(_out);
    return result;
}

Result<ConsoleOutput> console_exchange(const std::string& serial_socket, const std::string& input,
                                       const std::string& until, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    UniqueFd fd = TRY(connect_serial(serial_socket, deadline));
    std::string stale;
    for (size_t dropped = 0; dropped < kMaxConsoleOutput;) { // a guest that never stops talking cannot hold us
        stale.clear();
        if (!TRY(read_some(fd.get(), stale, 0)) || stale.empty()) break;
        dropped += stale.size();
    }
    std::string line = input + "\n";
    if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
        return fail_errno("write serial console");
    ConsoleCollector collector(until);
    auto matched_at = Clock::time_point::max();
    std::string piece;
    for (;;) {
        if (collector.complete()) return collector.take(true);
        bool found = collector.found();
        if (found && matched_at == Clock::time_point::max()) matched_at = Clock::now();
        // The marker is there but its line has not ended: give it a moment.
        if (found && Clock::now() - matched_at > std::chrono::milliseconds(200)) return collector.take(true);
        int wait = ms_left(deadline);
        if (wait == 0) return collector.take(found);
        piece.clear();
        bool open = TRY(read_some(fd.get(), piece, std::min(wait, 50)));
        collector.append(piece);
        if (!open) return collector.take(collector.complete() || collector.found());
    }
}

} // namespace brood::manager
