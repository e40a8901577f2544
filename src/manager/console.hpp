// One exchange on a VM's serial console socket: send a line, collect what
// the guest prints until a marker appears.
#pragma once

#include <string>

#include "common/result.hpp"

namespace brood::manager {

struct ConsoleOutput {
    std::string output;
    bool matched = false; // false: the timeout passed before `until` appeared
};

// Sends `input` + "\n" and reads until `until` appears, then to the end of
// that line (so "count" yields "count 3\n"). An empty `until` waits for the
// first complete line. Output that was pending before the input is dropped.
[[nodiscard]] Result<ConsoleOutput> console_exchange(const std::string& serial_socket, const std::string& input,
                                                     const std::string& until, int timeout_ms);

} // namespace brood::manager
