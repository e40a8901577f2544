// What broodd asks of a guest agent (docs/guest-agent.md), as the manager's
// callers see it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace brood::manager {

struct ExecSpec {
    std::vector<std::string> cmd;            // argv; no shell unless cmd names one
    std::map<std::string, std::string> env;  // added to the agent's environment
    std::string cwd;                         // "" for the agent's
    std::string stdin_data;
    int timeout_ms = 30'000;
};

struct ExecOutcome {
    int exit_code = 0;  // 128 + signal when a signal ended the command
    int signal = 0;
    bool timed_out = false;
    std::string stdout_data;
    std::string stderr_data;
    bool stdout_truncated = false;
    bool stderr_truncated = false;
};

} // namespace brood::manager
