// The moments of an operation at which its VMM may die, and a hook that
// tests use to kill the VMM exactly there (kill -9), as fork_steps.hpp does
// for the steps of a fork. The daemon answers such a death with 502
// vmm_died, and the instance ends Failed with the VMM's exit reason.
#pragma once

#include <sys/types.h>

#include <array>
#include <functional>
#include <string>
#include <string_view>

namespace brood::manager {

enum class VmmStep {
    spawned,          // start, restore, a fork's boot: the VMM process exists, not ready yet
    ready,            // ... it is ready; Running is not committed yet
    standby_pause,    // standby (and a from_running fork): before PUT /vm/pause
    standby_snapshot, // before PUT /vm/snapshot
    standby_install,  // the snapshot is written; before it is installed and the VMM ended
};

inline constexpr std::array kVmmSteps{VmmStep::spawned, VmmStep::ready, VmmStep::standby_pause,
                                      VmmStep::standby_snapshot, VmmStep::standby_install};

constexpr std::string_view to_string(VmmStep step) {
    switch (step) {
    case VmmStep::spawned: return "spawned";
    case VmmStep::ready: return "ready";
    case VmmStep::standby_pause: return "standby_pause";
    case VmmStep::standby_snapshot: return "standby_snapshot";
    case VmmStep::standby_install: return "standby_install";
    }
    return "?";
}

// Called at each step with the instance's name and its VMM's pid. Empty in
// the daemon.
using VmmFaultHook = std::function<void(VmmStep step, const std::string& instance_name, pid_t vmm_pid)>;

} // namespace brood::manager
