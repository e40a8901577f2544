// What a VM is made of, as given on the command line or read from a snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "vmm/net_config.hpp"

namespace brood {

// A virtio-vsock device: the guest's CID and the host socket
// (docs/vsock.md). On restore a CID of 0 keeps the snapshot's.
struct VsockOptions {
    uint64_t guest_cid = 0;
    std::string socket_path;
};

struct BootSource {
    std::string kernel_path;
    std::string initrd_path; // empty: none
    std::string cmdline;
    std::optional<VsockOptions> vsock;
    std::optional<NetConfig> net; // a virtio-net device after the vsock device
};

struct MachineShape {
    uint64_t memory_mib = 128;
    uint32_t vcpus = 1;
};

constexpr uint64_t kMinMemoryMib = 16;

} // namespace brood
