// Runs one command for the host: no shell, its own process group, bounded
// output, killed (the whole group) at its timeout.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace brood::agent {

struct ExecRequest {
    std::vector<std::string> argv;             // argv[0] is looked up in PATH
    std::map<std::string, std::string> env;    // added to (or replacing in) the agent's environment
    std::string cwd;                           // "" for the agent's
    std::string stdin_data;
    int timeout_ms = 30'000;
    size_t max_output = 1024 * 1024;           // per stream
};

struct ExecResult {
    int exit_code = -1;   // the exit status, or 128 + signal when a signal ended it
    int signal = 0;       // the signal that ended it, 0 if it exited
    bool timed_out = false;
    std::string stdout_data;
    std::string stderr_data;
    bool stdout_truncated = false;
    bool stderr_truncated = false;
};

// Errors: the command could not be started (ENOENT for a missing program).
[[nodiscard]] Result<ExecResult> run_command(const ExecRequest& request);

} // namespace brood::agent
