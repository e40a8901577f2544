// A minimal QMP client: JSON lines over QEMU's unix socket.
#pragma once

#include <deque>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "support/clock.hpp"
#include "support/line_reader.hpp"

namespace brood::bench {

class Qmp final {
public:
    // Connects (retrying while QEMU creates the socket), reads the greeting
    // and leaves capabilities negotiation mode.
    [[nodiscard]] static Result<Qmp> connect(const std::string& socket_path, Clock::time_point deadline);

    // Runs one command; its "return" value, or its error's description.
    [[nodiscard]] Result<nlohmann::json> execute(const std::string& command,
                                                 const nlohmann::json& arguments = nullptr,
                                                 Millis timeout = Millis(10'000));
    // Waits for an event named `name` (events that came earlier count too).
    [[nodiscard]] Result<nlohmann::json> wait_event(const std::string& name, Clock::time_point deadline);

private:
    explicit Qmp(LineReader reader) : _reader(std::move(reader)) {}
    [[nodiscard]] Result<nlohmann::json> read_message(Clock::time_point deadline);

    LineReader _reader;
    std::deque<nlohmann::json> _events;
};

} // namespace brood::bench
