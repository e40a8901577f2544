// The agent's operations: one request frame in, one answer frame out.
// Every field is type-checked; a bad request gets an error answer.
#pragma once

#include <string>

#include "agent/protocol.hpp"

namespace brood::agent {

struct AgentOptions {
    // Tests on the host: identity requests append their bytes (hex, one line
    // each) here instead of reseeding the host's kernel RNG.
    std::string identity_log;
};

Frame handle_request(const Frame& request, const AgentOptions& options);

} // namespace brood::agent
