// Operations through the guest agent of a Running instance: exec, file
// upload and download, and fresh entropy for forks (docs/guest-agent.md).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/protocol.hpp"
#include "manager/daemon_state.hpp"
#include "manager/instance_network.hpp"

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

// Agent failures: 502 agent_unreachable or agent_error, 504 agent_timeout;
// the agent's own refusals keep their kind (400, 404, 413).
class AgentOps final {
public:
    AgentOps(const DaemonState& state, const InstanceNetwork& network) : _state(state), _network(network) {}

    OpResult<ExecOutcome> exec(const Instance& instance, const ExecSpec& spec) const;
    OpResult<size_t> write_file(const Instance& instance, const std::string& path, unsigned mode,
                                const std::string& data) const;
    OpResult<std::string> read_file(const Instance& instance, const std::string& path) const;
    // 64 bytes from the host's getrandom into the guest's kernel RNG, which
    // reseeds at once: forks of one snapshot stop sharing their RNG state.
    // A fork with a NIC also gets its own MAC and address in the guest.
    OpResult<void> give_fresh_entropy(const Instance& instance) const;

private:
    // One request; an {"ok": false} answer is an error.
    OpResult<agent::Frame> call(const Instance& instance, const agent::Frame& frame, int answer_timeout_ms) const;

    const DaemonState& _state;
    const InstanceNetwork& _network;
};

} // namespace brood::manager
