// One exchange on a VM's serial console socket: send a line, collect what
// the guest prints until a marker appears.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace brood::manager {

// The most output one exchange returns. A guest that prints more before the
// marker loses its oldest bytes (the answer says "truncated").
inline constexpr size_t kMaxConsoleOutput = 1024 * 1024;

struct ConsoleOutput {
    std::string output;
    bool matched = false;   // false: the timeout passed before `until` appeared
    bool truncated = false; // output passed kMaxConsoleOutput and lost bytes
};

// Collects console output until the line holding `until` ends. Each byte is
// searched once (plus an overlap of the marker's length) and memory stays
// bounded by twice `cap`.
class ConsoleCollector final {
public:
    explicit ConsoleCollector(std::string until, size_t cap = kMaxConsoleOutput);
    void append(std::string_view data);
    // The marker appeared (never for an empty marker).
    bool found() const { return !_until.empty() && _marker != std::string::npos; }
    // The line holding the marker (or, with an empty marker, the first line) ended.
    bool complete() const { return _end != std::string::npos; }
    // The output: up to the end of the marker's line when complete, at most `cap` bytes.
    ConsoleOutput take(bool matched);

private:
    void search();

    std::string _until;
    size_t _cap;
    std::string _out;
    size_t _scan_from = 0;               // the marker search resumes here
    size_t _marker = std::string::npos;  // where the marker starts
    size_t _end = std::string::npos;     // just past the marker's line
    bool _truncated = false;
};

// Sends `input` + "\n" and reads until `until` appears, then to the end of
// that line (so "count" yields "count 3\n"). An empty `until` waits for the
// first complete line. Output that was pending before the input is dropped.
[[nodiscard]] Result<ConsoleOutput> console_exchange(const std::string& serial_socket, const std::string& input,
                                                     const std::string& until, int timeout_ms);

} // namespace brood::manager
