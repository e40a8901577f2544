// A NIC as given on the command line: --net tap=NAME,mac=MAC or
// --net fd=N,mac=MAC (an open TAP, or any fd that carries one frame per
// read and write). On restore the same option names the fork's own TAP
// and MAC.
#pragma once

#include <memory>
#include <string>

#include "common/mac_address.hpp"
#include "common/result.hpp"
#include "vmm/virtio/net.hpp"

namespace brood {

struct NetConfig {
    std::string tap; // a TAP interface to attach to, or
    int fd = -1;     // an fd handed over by the parent
    MacAddress mac{};
};

Result<NetConfig> parse_net_arg(const std::string& arg);
// Attaches to the TAP (IFF_TAP | IFF_NO_PI, non-blocking) or takes the fd.
Result<std::unique_ptr<virtio::Net>> open_net(const NetConfig& config);

} // namespace brood
