// Test harness: runs one brood-vmm process, reads its serial log, types
// into its serial socket and calls its control API. The process itself is a
// bench::Child (bench/support/child.hpp), the one process harness.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/http/message.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "support/child.hpp"

namespace brood::test {

// Paths of the things under test, from the build (see CMakeLists.txt) or
// the environment (BROOD_VMM, BROOD_TEST_GUEST, BROOD_ASSETS).
std::string vmm_path();
std::string test_guest_path();
std::string assets_dir();
// The environment variable's value, or `fallback` where it is unset or empty.
std::string env_or(const char* name, const char* fallback);
bool have_kvm();
// True where KVM runs guests with hardware assistance (kvm_intel or kvm_amd,
// as modules or built in): there a stock Linux kernel boots to its shell.
bool hardware_kvm();
// A fresh directory under /tmp, removed by the caller (or left for debugging).
std::string make_temp_dir(const std::string& tag);

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

class VmProcess final {
public:
    // Starts `brood-vmm <args...>` with serial log, serial socket and control
    // socket inside `dir`, and waits for its ready fd (or its exit).
    static Result<VmProcess> start(const std::vector<std::string>& args, const std::string& dir,
                                   Millis timeout = Millis(10'000));
    VmProcess(VmProcess&&) noexcept = default;
    VmProcess& operator=(VmProcess&&) noexcept = default;
    ~VmProcess() = default;

    pid_t pid() const { return _child ? _child->pid() : -1; }
    const std::string& dir() const { return _dir; }
    std::string control_socket() const { return _dir + "/control.sock"; }
    std::string serial_log() const { return _dir + "/serial.log"; }
    Clock::time_point started_at() const { return _child ? _child->started_at() : Clock::time_point{}; }

    // Waits until `text` appears in serial output not yet consumed; returns
    // the output up to the end of that line and consumes it. With `quiet`, it
    // also gives up once the guest has printed nothing for that long (as a
    // booting Linux never does), and says what the VMM is doing.
    Result<std::string> wait_for(const std::string& text, Millis timeout = Millis(10'000),
                                 std::optional<Millis> quiet = std::nullopt);
    // Sends one line to the serial console.
    Result<void> send_line(const std::string& line);
    // send_line + wait_for(expect); returns the line that holds `expect`.
    Result<std::string> command(const std::string& line, const std::string& expect,
                                Millis timeout = Millis(10'000));
    // Everything the guest has printed so far.
    std::string all_output() const;

    Result<http::Response> api(const std::string& method, const std::string& path, const std::string& body = "");

    // Waits for the process to end; its exit code, or 128+signal.
    Result<int> wait_exit(Millis timeout = Millis(10'000));
    void kill_now();

private:
    VmProcess() = default;
    std::string read_log() const;
    // Its exit code if it has ended (reaped), without waiting.
    std::optional<int> exited();

    std::optional<bench::Child> _child;
    std::string _dir;
    size_t _consumed = 0;
    UniqueFd _serial;
};

// The last line of `text` that contains `needle` (without the newline).
std::string line_with(const std::string& text, const std::string& needle);

} // namespace brood::test

namespace brood::test {

struct ProcessResult {
    int exit_code = -1;
    std::string stderr_text;
};

// Runs `brood-vmm <args...>` to its end (killed after `timeout`), capturing stderr.
ProcessResult run_vmm(const std::vector<std::string>& args, Millis timeout = Millis(20'000));

} // namespace brood::test
