// A process's memory as /proc reports it, and the part that is guest RAM.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "common/result.hpp"

namespace brood::bench {

struct MemoryUsage {
    double rss_kib = 0; // whole process
    double pss_kib = 0;
};

// Rss and Pss from /proc/PID/smaps_rollup.
Result<MemoryUsage> read_rollup(pid_t pid);

// Rss and Pss of the guest RAM mapping: the mapping in /proc/PID/smaps whose
// size equals `guest_bytes` (the biggest by Rss if several; if none, the
// smallest mapping at most 4 MiB larger, for a VMM that pads its RAM).
Result<MemoryUsage> read_guest_mapping(pid_t pid, uint64_t guest_bytes);

// The VMM's own memory: whole process minus its guest RAM mapping.
struct VmmMemory {
    MemoryUsage total;
    MemoryUsage guest;
    double own_rss_kib() const { return total.rss_kib - guest.rss_kib; }
    double own_pss_kib() const { return total.pss_kib - guest.pss_kib; }
};
Result<VmmMemory> read_vmm_memory(pid_t pid, uint64_t guest_bytes);

} // namespace brood::bench
