// A broodd of one's own in a scratch directory: the demo, the benches and
// the integration tests all start theirs through this launcher.
//
// The layout inside `dir`: data/ (the data dir), brood.sock (the API
// socket), broodd.log (its stdout and stderr, appended across restarts).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace brood::client {

struct LaunchOptions {
    std::string broodd; // the broodd binary
    std::string vmm;    // the brood-vmm binary it runs (--vmm)
    std::string dir;    // the scratch directory (must exist)
    std::optional<unsigned> fork_concurrency; // --fork-concurrency
    std::vector<std::string> images_dirs;     // --images-dir, each
    std::vector<std::string> extra_args;      // appended as they are
    std::chrono::milliseconds ready_timeout{10'000};
};

class BrooddProcess final {
public:
    // Starts broodd and waits until GET /version answers; fails (with the
    // tail of its log) when it exits first or does not answer in time.
    [[nodiscard]] static Result<BrooddProcess> start(const LaunchOptions& options);
    BrooddProcess(BrooddProcess&& other) noexcept;
    BrooddProcess& operator=(BrooddProcess&& other) noexcept;
    BrooddProcess(const BrooddProcess&) = delete;
    BrooddProcess& operator=(const BrooddProcess&) = delete;
    ~BrooddProcess() { kill9(); }

    pid_t pid() const { return _pid; }
    const std::string& dir() const { return _dir; }
    std::string socket() const { return socket_in(_dir); }
    std::string data_dir() const { return data_dir_in(_dir); }
    std::string log_path() const { return log_path_in(_dir); }
    // The last `max_bytes` of its log, for error messages.
    std::string log_tail(size_t max_bytes = 800) const;

    // SIGKILL, and reap it (its VMMs keep running).
    void kill9();
    // SIGTERM, then SIGKILL when it has not exited after `grace`.
    void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3'000));

    static std::string socket_in(const std::string& dir) { return dir + "/brood.sock"; }
    static std::string data_dir_in(const std::string& dir) { return dir + "/data"; }
    static std::string log_path_in(const std::string& dir) { return dir + "/broodd.log"; }

private:
    BrooddProcess(pid_t pid, std::string dir) : _pid(pid), _dir(std::move(dir)) {}
    pid_t _pid = -1;
    std::string _dir;
};

// A fresh directory $TMPDIR/<prefix>.XXXXXX (/tmp when TMPDIR is unset).
[[nodiscard]] Result<std::string> make_scratch_dir(const std::string& prefix);
// SIGKILL to every process (but this one) whose command line holds `needle`
// (a scratch directory names broodd, its VMMs and anything they start);
// waits briefly until they are gone. How many it killed.
int kill_processes_mentioning(const std::string& needle);

} // namespace brood::client
