#include "manager/instance_state.hpp"

#include <array>
#include <utility>

namespace brood::manager {

namespace {

constexpr std::array<std::pair<State, std::string_view>, 6> kNames{{
    {State::created, "Created"},
    {State::running, "Running"},
    {State::paused, "Paused"},
    {State::standby, "Standby"},
    {State::stopped, "Stopped"},
    {State::failed, "Failed"},
}};

} // namespace

std::string_view to_string(State state) {
    for (const auto& [s, name] : kNames)
        if (s == state) return name;
    return "Unknown";
}

std::optional<State> state_from_string(std::string_view text) {
    for (const auto& [s, name] : kNames)
        if (name == text) return s;
    return std::nullopt;
}

State derive_state(State committed, const Facts& facts) {
    if (facts.vmm_alive) return facts.vmm_paused ? State::paused : State::running;
    switch (committed) {
    case State::running:
    case State::paused: return State::failed;
    case State::standby: return facts.snapshot_present ? State::standby : State::failed;
    default: return committed;
    }
}

} // namespace brood::manager
