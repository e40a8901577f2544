// Memory as the host sees it: a process's Rss/Pss (/proc), the part that
// is guest RAM, a file's pages in the page cache (mincore), and the one way
// every bench and the demo count what a group of VMs costs the host.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

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

// Bytes of `path` resident in the page cache (mincore on a mapping of it).
Result<uint64_t> page_cache_bytes(const std::string& path);

// What a group of processes costs the host, each page counted once: the
// processes' Pss, except that pages of `shared_files` they map are left out
// of it (only their private copies of such pages, smaps' `Anonymous`, stay);
// plus the page cache those files hold, each file once (a file named twice,
// or under two names of one inode, counts once).
struct HostMemory {
    double pss_mib = 0;           // Pss of the processes, whole
    double pss_outside_mib = 0;   // the same without their share of the files' pages
    double page_cache_mib = 0;    // the files' resident page cache
    double total_mib() const { return pss_outside_mib + page_cache_mib; }
};
Result<HostMemory> read_host_memory(const std::vector<pid_t>& pids, const std::vector<std::string>& shared_files);

} // namespace brood::bench
