#include "vmm/snapshot/page_selection.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "common/unique_fd.hpp"

namespace brood::snapshot {

namespace {
constexpr uint64_t kPage = 4096;
}

PageSet pages_with_data(std::span<const uint64_t> pagemap) {
    PageSet set(pagemap.size());
    for (size_t i = 0; i < pagemap.size(); ++i) set[i] = (pagemap[i] & (kPagemapPresent | kPagemapSwapped)) != 0;
    return set;
}

PageSet privately_written_pages(std::span<const uint64_t> pagemap) {
    PageSet set(pagemap.size());
    for (size_t i = 0; i < pagemap.size(); ++i) {
        uint64_t e = pagemap[i];
        set[i] = (e & (kPagemapPresent | kPagemapSwapped)) != 0 && (e & kPagemapFileOrShared) == 0;
    }
    return set;
}

std::vector<PageRun> runs_of(const PageSet& pages) {
    std::vector<PageRun> runs;
    for (uint64_t p = 0; p < pages.size(); ++p) {
        if (!pages[p]) continue;
        if (!runs.empty() && runs.back().first + runs.back().count == p)
            ++runs.back().count;
        else
            runs.push_back({p, 1});
    }
    return runs;
}

Result<int> open_pagemap() {
    static int fd = -1;
    if (fd < 0) {
        fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return fail_errno("open /proc/self/pagemap");
    }
    return fd;
}

Result<std::vector<uint64_t>> read_pagemap(const void* base, uint64_t pages) {
    const int fd = TRY(open_pagemap());
    std::vector<uint64_t> entries(pages);
    uint64_t first = reinterpret_cast<uint64_t>(base) / kPage;
    constexpr uint64_t kChunk = 64 * 1024; // entries per read
    for (uint64_t done = 0; done < pages;) {
        uint64_t n = std::min(kChunk, pages - done);
        ssize_t got = ::pread(fd, entries.data() + done, n * 8, static_cast<off_t>((first + done) * 8));
        if (got < 0) return fail_errno("read /proc/self/pagemap");
        if (got != static_cast<ssize_t>(n * 8)) return fail("read /proc/self/pagemap: short read");
        done += n;
    }
    return entries;
}

} // namespace brood::snapshot
