// The host side of instance networking, with ioctls on the host: the
// bridge broodd manages (it holds the subnet's gateway address) and each
// instance's persistent TAP interface, attached to the bridge and up.
// Everything needs CAP_NET_ADMIN; without it the error says so.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"

namespace brood::manager {

// Creates the bridge if it does not exist, gives it `address`/`prefix_len`
// when it has another (or none), and brings it up.
[[nodiscard]] Result<void> ensure_bridge(const std::string& bridge, uint32_t address, int prefix_len);
// Creates a persistent TAP `tap` (failing if one exists), attaches it to
// `bridge` and brings it up. On failure nothing is left behind.
[[nodiscard]] Result<void> create_tap(const std::string& tap, const std::string& bridge);
// create_tap() unless the interface is there already (the daemon restarted,
// or the host rebooted and the TAP is gone).
[[nodiscard]] Result<void> ensure_tap(const std::string& tap, const std::string& bridge);
// Removes a persistent TAP; one that does not exist is no error.
[[nodiscard]] Result<void> delete_tap(const std::string& tap);
bool interface_exists(const std::string& name);

} // namespace brood::manager
