// Instance states, and how the visible state follows from what is true.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace brood::manager {

enum class State { created, running, paused, standby, stopped, failed };

std::string_view to_string(State state);
std::optional<State> state_from_string(std::string_view text);

// What is observably true about an instance right now.
struct Facts {
    bool vmm_alive = false;
    bool vmm_paused = false;
    bool snapshot_present = false; // snapshots/snapshot-latest/{state,memory} exist
};

// `committed` is the last state an operation completed. A live VMM means
// Running or Paused whatever was recorded; without one, a recorded Running
// or Paused is Failed, and Standby needs its snapshot on disk.
State derive_state(State committed, const Facts& facts);

} // namespace brood::manager
