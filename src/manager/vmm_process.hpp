// One brood-vmm process: spawned by this daemon (a child) or adopted after a
// daemon restart (not a child). Liveness comes from a pidfd, so a reused pid
// can never be mistaken for the VMM.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace brood::manager {

struct ExitStatus {
    std::optional<int> code;   // exit code when it exited normally
    std::optional<int> signal; // signal when killed
    // Human text from docs/interfaces.md's exit code table.
    std::string describe() const;
};

// The whole environment a spawned VMM gets: PATH set to this, nothing else.
inline constexpr const char* kVmmPath = "/usr/sbin:/usr/bin:/sbin:/bin";

// The VMM's fds: 3 is its ready pipe, then the files of SpawnSpec::pass_fds.
inline constexpr int kChildReadyFd = 3;
inline constexpr int kFirstPassedFd = 4;

struct SpawnSpec {
    std::string binary;
    std::vector<std::string> args; // without argv[0]
    std::string log_path;          // receives stdout and stderr (appended)
    int ready_timeout_ms = 30'000;
    // The VMM is PID 1 of a new PID namespace (needs CAP_SYS_ADMIN): it
    // sees no other process, and nothing it starts outlives it.
    bool own_pid_namespace = false;
    // Open files the VMM gets as fds kFirstPassedFd, kFirstPassedFd + 1, ...
    // (the caller keeps them open until spawn() returns).
    std::vector<int> pass_fds;
};

class VmmProcess final {
public:
    // Starts the VMM in its own session with `--ready-fd N` appended, and
    // waits for "ready". On failure the process is gone and the error holds
    // its exit status and the last line it logged.
    // `on_spawned` (tests only) is called once the process exists, before
    // it is ready.
    static Result<std::shared_ptr<VmmProcess>> spawn(const SpawnSpec& spec,
                                                     const std::function<void(pid_t)>& on_spawned = {});
    // Takes over a running VMM that is not our child.
    static Result<std::shared_ptr<VmmProcess>> adopt(pid_t pid);

    VmmProcess(pid_t pid, UniqueFd pidfd, bool child) : _pid(pid), _pidfd(std::move(pidfd)), _child(child) {}
    VmmProcess(const VmmProcess&) = delete;
    VmmProcess& operator=(const VmmProcess&) = delete;
    ~VmmProcess() = default;

    pid_t pid() const { return _pid; }
    int pidfd() const { return _pidfd.get(); }
    bool is_child() const { return _child; }
    bool exited() const;

    // Notes the exit when the process has ended (reaping it when it is our
    // child). Returns true once it has exited. Safe to call repeatedly.
    bool poll_exit();
    // Waits up to `timeout_ms` for the exit; true when it has exited.
    bool wait_exit(int timeout_ms);
    // Empty while running; without code and signal when it was not our child.
    std::optional<ExitStatus> exit_status() const;
    // Sends a signal through the pidfd (never hits a reused pid).
    void kill(int signal) const;

private:
    pid_t _pid;
    UniqueFd _pidfd;
    bool _child;
    mutable std::mutex _mutex;
    std::optional<ExitStatus> _exit;
};

// Last non-empty line of a log file, for error messages.
std::string last_log_line(const std::string& path);

} // namespace brood::manager
