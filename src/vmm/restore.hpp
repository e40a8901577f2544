// The restore recipe: a Machine rebuilt from a state file and a memory file.
#pragma once

#include <memory>
#include <string>

#include "vmm/boot.hpp"

namespace brood {

struct RestoreSource {
    std::string state_path;
    std::string memory_path;
    std::string backend = "file"; // "file": MAP_PRIVATE of the memory file; "copy": private copy
    std::vector<DiskConfig> disks; // the shape the snapshot recorded: count, sizes, read-only flags
    std::optional<VsockOptions> vsock; // required when the snapshot has a vsock device
    std::optional<NetConfig> net;      // required when the snapshot has a NIC: the restored machine's TAP and MAC
};

tl::expected<std::unique_ptr<Machine>, BuildError> build_from_snapshot(const RestoreSource& source,
                                                                       std::shared_ptr<Console> console);

} // namespace brood
