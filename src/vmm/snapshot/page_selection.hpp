// Which guest pages a snapshot writes, decided from /proc/self/pagemap
// entries (one 64-bit entry per 4 KiB page of the mapping). Pure apart from
// read_pagemap(), so the rules are unit-tested with made-up entries.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.hpp"

namespace brood::snapshot {

inline constexpr uint64_t kPagemapPresent = 1ull << 63;      // in RAM
inline constexpr uint64_t kPagemapSwapped = 1ull << 62;      // in swap
inline constexpr uint64_t kPagemapFileOrShared = 1ull << 61; // a page-cache (or shared) page

// One flag per page of the mapping.
using PageSet = std::vector<bool>;

// A run of consecutive pages: [first, first + count).
struct PageRun {
    uint64_t first = 0;
    uint64_t count = 0;
    bool operator==(const PageRun&) const = default;
};

// Anonymous RAM: the pages that hold data, whether in RAM or swapped out.
// A page that is neither was never touched and reads as zero.
PageSet pages_with_data(std::span<const uint64_t> pagemap);

// RAM mapped MAP_PRIVATE from a file: the pages the guest wrote. A write
// turns a page-cache page into a private anonymous copy, which stays
// private when it is swapped out (a swap entry is never a file page).
PageSet privately_written_pages(std::span<const uint64_t> pagemap);

// The selected pages as maximal runs, in order.
std::vector<PageRun> runs_of(const PageSet& pages);

// This process's pagemap entries for `pages` pages starting at `base`
// (page aligned).
Result<std::vector<uint64_t>> read_pagemap(const void* base, uint64_t pages);

// This process's /proc/self/pagemap, which read_pagemap() reads: opened on
// the first call and kept open, since a VMM that dropped its uid can no
// longer open it (a boxed VMM calls this before it does).
Result<int> open_pagemap();

} // namespace brood::snapshot
