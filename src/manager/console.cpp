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

// End of the answer: the end of the line holding `until`, or npos.
size_t answer_end(const std::string& out, const std::string& until) {
    size_t at = until.empty() ? 0 : out.find(until);
    if (at == std::string::npos) return std::string::npos;
    size_t nl = out.find('\n', at + until.size());
    return nl == std::string::npos ? std::string::npos : nl + 1;
}

} // namespace

Result<ConsoleOutput> console_exchange(const std::string& serial_socket, const std::string& input,
                                       const std::string& until, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    UniqueFd fd = TRY(connect_serial(serial_socket, deadline));
    std::string stale;
    while (true) {
        size_t before = stale.size();
        if (!TRY(read_some(fd.get(), stale, 0)) || stale.size() == before) break;
    }
    std::string line = input + "\n";
    if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size()))
        return fail_errno("write serial console");
    ConsoleOutput result;
    auto matched_at = Clock::time_point::max();
    for (;;) {
        size_t end = answer_end(result.output, until);
        if (end != std::string::npos) {
            result.output.resize(end);
            result.matched = true;
            return result;
        }
        bool found = !until.empty() && result.output.find(until) != std::string::npos;
        if (found && matched_at == Clock::time_point::max()) matched_at = Clock::now();
        // The marker is there but its line has not ended: give it a moment.
        if (found && Clock::now() - matched_at > std::chrono::milliseconds(200)) {
            result.matched = true;
            return result;
        }
        int wait = ms_left(deadline);
        if (wait == 0) {
            result.matched = found;
            return result;
        }
        if (!TRY(read_some(fd.get(), result.output, std::min(wait, 50)))) {
            result.matched = found;
            return result;
        }
    }
}

} // namespace brood::manager
