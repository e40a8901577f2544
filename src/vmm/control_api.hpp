// brood-vmm's control API (docs/interfaces.md): VM info, pause, resume,
// shutdown, snapshot, stats, served over HTTP on a unix socket.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/http/router.hpp"
#include "vmm/machine.hpp"

namespace brood {

struct ControlContext {
    Machine& machine;
    nlohmann::json description; // boot source or snapshot origin, shape
    std::chrono::steady_clock::time_point started;
    // Writes a snapshot of the paused machine and says what it wrote.
    std::function<Result<nlohmann::json>(const nlohmann::json& request)> snapshot;
};

http::Router make_control_router(ControlContext& context);

} // namespace brood
