// A cloned guest's new network identity: the host gave the NIC a MAC of its
// own; the agent makes the guest's interface carry it, with the fork's
// address and default route.
#pragma once

#include <string>

#include "common/result.hpp"

namespace brood::agent {

struct NetIdentity {
    std::string mac;     // "02:..."
    std::string ip;      // CIDR, "172.30.0.7/24"
    std::string gateway; // "172.30.0.1"; empty: no default route
};

// Checks the fields' syntax; nothing is applied.
[[nodiscard]] Result<void> check_net_identity(const NetIdentity& identity);
// On the first Ethernet interface other than loopback (by name): down, set
// the MAC (SIOCSIFHWADDR), replace the IPv4 address, up, default route via
// the gateway. Needs CAP_NET_ADMIN. Returns the interface's name.
[[nodiscard]] Result<std::string> apply_net_identity(const NetIdentity& identity);

} // namespace brood::agent
