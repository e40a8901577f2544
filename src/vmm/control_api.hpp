// brood-vmm's control API (docs/interfaces.md): VM info, pause, resume,
// shutdown, snapshot, stats, served over HTTP on a unix socket. Each route
// parses its body and posts one action to the VMM's action loop.
#pragma once

#include "common/http/router.hpp"
#include "vmm/action_queue.hpp"

namespace brood {

http::Router make_control_router(ActionQueue& actions);

} // namespace brood
