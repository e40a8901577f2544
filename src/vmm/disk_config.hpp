// Disks as given on the command line: --disk PATH[,ro][,base=BASE].
// With base=, PATH is a copy-on-write overlay (overlay_file.hpp) above the
// read-only image BASE.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "vmm/virtio/block_backend.hpp"

namespace brood {

struct DiskConfig {
    std::string path;
    bool read_only = false;
    std::string base; // empty: PATH is a raw image
};

Result<DiskConfig> parse_disk_arg(const std::string& arg);
// Opens every disk, in order; an error names the disk.
Result<std::vector<std::unique_ptr<virtio::BlockBackend>>> open_disks(const std::vector<DiskConfig>& disks);

} // namespace brood
