// The host side of the serial console: output to a log file, a connected
// unix-socket client and/or stdout; input from that client or stdin.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace brood {

struct ConsoleConfig {
    std::string log_path;    // appended to; empty: none
    std::string socket_path; // unix socket for one interactive client; empty: none
    bool stdio = false;      // stdout gets output, stdin gives input
};

class Console final {
public:
    using InputSink = std::function<void(std::span<const uint8_t>)>;

    static Result<std::shared_ptr<Console>> open(const ConsoleConfig& config);
    ~Console();
    Console(const Console&) = delete;
    Console& operator=(const Console&) = delete;

    // Guest output, called from vCPU threads.
    void write(uint8_t byte);
    // Opens the log and the socket, and starts the input thread feeding `sink`.
    Result<void> start(InputSink sink);

private:
    Console() = default;
    void input_loop();
    void accept_client();

    ConsoleConfig _config;
    UniqueFd _log;
    UniqueFd _listener;
    UniqueFd _wake; // eventfd: stops the input thread
    std::mutex _client_mutex;
    UniqueFd _client;
    InputSink _sink;
    bool _stdin_open = false;
    std::thread _thread;
};

} // namespace brood
