// Snapshot of a paused machine: the state file and the memory file, both
// committed only when both are complete.
#pragma once

#include <nlohmann/json.hpp>

#include "common/result.hpp"
#include "vmm/machine.hpp"
#include "vmm/snapshot/memory_writer.hpp"

namespace brood {

// Either `dir` (its `state` and `memory` are replaced as one unit) or both
// file paths (renamed memory first, put back on failure).
struct SnapshotRequest {
    std::string dir;
    std::string state_path;
    std::string memory_path;
    bool diff = false;
};

Result<SnapshotRequest> parse_snapshot_request(const nlohmann::json& body);
Result<snapshot::MemoryWriteStats> write_snapshot(Machine& machine, const SnapshotRequest& request);

} // namespace brood
