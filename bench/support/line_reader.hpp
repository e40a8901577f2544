// Reads text lines from a pipe or socket with a deadline, noting when each
// line arrived: the benches time the guest's serial output with it.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "support/clock.hpp"

namespace brood::bench {

struct Line {
    std::string text;     // without "\n" or "\r\n"
    Clock::time_point at; // when the read() that completed it returned
};

class LineReader final {
public:
    LineReader() = default;
    explicit LineReader(UniqueFd fd) : _fd(std::move(fd)) {}

    int fd() const { return _fd.get(); }
    // The next whole line, or an error at the deadline or end of input.
    [[nodiscard]] Result<Line> next_line(Clock::time_point deadline);
    // Skips lines until one contains `needle`.
    [[nodiscard]] Result<Line> wait_for(std::string_view needle, Clock::time_point deadline);
    // The last bytes seen, for error messages.
    std::string recent() const;

private:
    [[nodiscard]] Result<void> fill(Clock::time_point deadline);

    UniqueFd _fd;
    std::string _buffer;   // bytes not yet returned as lines
    std::string _history;  // tail of everything read
    Clock::time_point _last_read{};
};

} // namespace brood::bench
