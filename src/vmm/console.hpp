// The host side of the serial console: output to a log file (capped, see
// RotatingLog), a connected unix-socket client and/or stdout; input from
// that client or stdin. vCPU threads only queue output bytes; a thread of
// the console writes them, so a slow disk or client never stalls a vCPU.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/rotating_log.hpp"

namespace brood {

struct ConsoleConfig {
    std::string log_path;    // appended to; empty: none
    std::string socket_path; // unix socket for one interactive client; empty: none
    bool stdio = false;      // stdout gets output, stdin gives input
    uint64_t log_cap = RotatingLog::kDefaultCap;
};

class Console final {
public:
    using InputSink = std::function<void(std::span<const uint8_t>)>;

    static Result<std::shared_ptr<Console>> open(const ConsoleConfig& config);
    ~Console();
    Console(const Console&) = delete;
    Console& operator=(const Console&) = delete;

    // Bytes queued for output beyond which guest output is dropped (and counted).
    static constexpr size_t kMaxPending = 1 << 20;

    // Guest output, called from vCPU threads: queued, never blocks on I/O.
    void write(uint8_t byte);
    // Opens the serial log and binds the serial socket (start() does it
    // too, if not done yet): a boxed VMM does it before it drops its uid.
    Result<void> open_outputs();
    // Opens the log and the socket, and starts the input thread feeding `sink`.
    Result<void> start(InputSink sink);

private:
    Console() = default;
    void input_loop();
    void output_loop();
    void emit(std::span<const uint8_t> bytes);
    void accept_client();

    ConsoleConfig _config;
    std::optional<RotatingLog> _log;
    UniqueFd _listener;
    UniqueFd _wake; // eventfd: stops the input thread
    std::mutex _client_mutex;
    UniqueFd _client;
    InputSink _sink;
    bool _stdin_open = false;
    std::thread _thread;

    std::mutex _out_mutex;
    std::condition_variable _out_cv;
    std::vector<uint8_t> _pending;
    uint64_t _dropped = 0;
    bool _out_stop = false;
    std::thread _writer;
};

} // namespace brood
