// Writes guest RAM to a sparse memory file: zero pages become holes.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace brood::snapshot {

struct MemoryWriteStats {
    bool diff = false;         // written on top of a copy of the backing file
    bool reflinked = false;    // that copy shared extents instead of copying
    uint64_t pages_scanned = 0;
    uint64_t bytes_written = 0; // guest pages written by this snapshot
    uint64_t bytes_copied = 0;  // bytes of the backing file copied (diff, no reflink)
};

// Full: every non-zero page of guest RAM. Diff (memory mapped from a file
// only): a copy of that file plus the pages the guest wrote since it was
// mapped. `path` must not exist; it is removed again on failure.
Result<MemoryWriteStats> write_memory_file(GuestMemory& memory, const std::string& path, bool diff);

} // namespace brood::snapshot
