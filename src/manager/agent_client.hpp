// broodd's side of the guest agent (docs/guest-agent.md): one request per
// connection through the VM's vsock device.
#pragma once

#include <string>

#include "agent/protocol.hpp"
#include "common/result.hpp"

namespace brood::manager {

struct AgentTimeouts {
    int connect_ms = 3'000; // reach the agent, retrying while nothing answers
    int answer_ms = 30'000; // then get its answer
};

// Sends `request` to the agent behind `vsock_socket` and returns its answer
// (which may be an error answer: {"ok": false, ...}). Errors: ECONNREFUSED
// when the agent could not be reached within connect_ms, ETIMEDOUT when it
// did not answer within answer_ms, EPROTO for an answer that is not a frame.
[[nodiscard]] Result<agent::Frame> agent_call(const std::string& vsock_socket, const agent::Frame& request,
                                              const AgentTimeouts& timeouts);

} // namespace brood::manager
