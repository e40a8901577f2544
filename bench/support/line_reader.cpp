#include "support/line_reader.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

namespace brood::bench {
namespace {

constexpr size_t kHistory = 2048;

int poll_timeout_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left + 1, 0, 60'000));
}

} // namespace

Result<void> LineReader::fill(Clock::time_point deadline) {
    for (;;) {
        pollfd pfd{_fd.get(), POLLIN, 0};
        int ready = ::poll(&pfd, 1, poll_timeout_ms(deadline));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) return fail_errno("poll");
        if (ready == 0) {
            if (Clock::now() >= deadline) return fail("timed out", ETIMEDOUT);
            continue;
        }
        char chunk[4096];
        ssize_t got = ::read(_fd.get(), chunk, sizeof(chunk));
        _last_read = Clock::now();
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return fail_errno("read");
        if (got == 0) return fail("end of output", EPIPE);
        _buffer.append(chunk, static_cast<size_t>(got));
        _history.append(chunk, static_cast<size_t>(got));
        if (_history.size() > 2 * kHistory) _history.erase(0, _history.size() - kHistory);
        return {};
    }
}

Result<Line> LineReader::next_line(Clock::time_point deadline) {
    for (;;) {
        size_t end = _buffer.find('\n');
        if (end != std::string::npos) {
            Line line{_buffer.substr(0, end), _last_read};
            _buffer.erase(0, end + 1);
            while (!line.text.empty() && line.text.back() == '\r') line.text.pop_back();
            return line;
        }
        TRY(fill(deadline));
    }
}

Result<Line> LineReader::wait_for(std::string_view needle, Clock::time_point deadline) {
    for (;;) {
        auto line = next_line(deadline);
        if (!line)
            return fail(fmt::format("waiting for \"{}\": {}; last output: \"{}\"", needle, line.error().message(),
                                    recent()),
                        line.error().errno_value());
        if (line->text.find(needle) != std::string::npos) return line;
    }
}

std::string LineReader::recent() const {
    std::string tail = _history.size() > 400 ? _history.substr(_history.size() - 400) : _history;
    std::replace(tail.begin(), tail.end(), '\n', '|');
    std::erase(tail, '\r');
    return tail;
}

} // namespace brood::bench
