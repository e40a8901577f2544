// A child process started with posix_spawn, its stdin/stdout as pipes, and
// killed when the owner goes away, or when SIGINT, SIGTERM or SIGHUP stops
// the program (SIGPIPE is ignored): a bench or test never leaves a VM
// behind. The one process harness of the benches and the tests
// (tests/support/vm_process.hpp is built on it).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "support/clock.hpp"
#include "support/line_reader.hpp"

namespace brood::bench {

struct SpawnOptions {
    bool stdin_pipe = true;
    bool stdout_pipe = true;
    // The child's fd 3 is the write end of a pipe (brood-vmm --ready-fd 3).
    bool ready_pipe = false;
    // Where the child's stderr goes (appended); /dev/null when empty, unless
    // `inherit_stderr` (then it is the parent's).
    std::string stderr_path;
    bool inherit_stderr = false;
};

class Child final {
public:
    // `started_at()` is taken just before posix_spawn.
    static Result<Child> spawn(const std::vector<std::string>& argv, const SpawnOptions& options);
    Child(Child&&) noexcept;
    Child& operator=(Child&&) noexcept;
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child();

    pid_t pid() const { return _pid; }
    const std::string& name() const { return _name; }
    Clock::time_point started_at() const { return _started; }
    LineReader& out() { return _stdout; }

    [[nodiscard]] Result<void> send(std::string_view text);
    // Waits for the child to write its ready fd; the time it did.
    [[nodiscard]] Result<Clock::time_point> wait_ready(Clock::time_point deadline);
    // Its exit code (128+signal), or an error if it is still running at the deadline.
    [[nodiscard]] Result<int> wait_exit(Clock::time_point deadline);
    // Sends `signal`, waits up to `grace`, then SIGKILL; reaps it. Idempotent.
    void stop(int signal, Millis grace);
    void kill_now();
    // The end of its stderr file, for error messages.
    std::string stderr_tail() const;

private:
    Child() = default;

    pid_t _pid = -1;
    std::string _name;
    Clock::time_point _started{};
    UniqueFd _stdin;
    LineReader _stdout;
    UniqueFd _ready;
    std::string _stderr_path;
    std::optional<int> _exit_code;
};

} // namespace brood::bench
