// A fork request as the API receives it, checked by a pure function (no
// daemon state), so every rule is unit-tested (tests/manager/fork_request_test).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "manager/instance_state.hpp"
#include "manager/op_error.hpp"

namespace brood::manager {

inline constexpr int64_t kMaxForkCount = 1000;
inline constexpr int64_t kMaxForkConcurrency = 64;

// POST /instances/{id}/fork takes name, target_state, from_running;
// POST /templates/{id}/fork takes name or name_prefix + count,
// target_state, concurrency and stream.
enum class ForkSource { instance, template_ };

struct ForkRequest {
    std::vector<std::string> names; // one fork per name, in order
    // Running, Standby or Stopped; empty: the default (the source's state
    // for an instance fork, Running for a template fork).
    std::optional<State> target_state;
    bool from_running = false;      // instance forks: a Running source may be forked
    std::optional<int> concurrency; // template fan-out: forks made at once (default: the daemon's)
    bool stream = false;            // template fan-out: answer each fork as it is made (NDJSON)
};

// Parses and checks a request body (a JSON object). 400 bad_request with a
// sentence naming the field on any error. Names must be valid instance
// names; name_prefix + count yields PREFIX-1 .. PREFIX-count.
[[nodiscard]] OpResult<ForkRequest> parse_fork_request(const nlohmann::json& body, ForkSource source);

// "running", "Running", "STANDBY"...: the three states a fork can end in.
std::optional<State> fork_target_from_string(const std::string& text);

} // namespace brood::manager
