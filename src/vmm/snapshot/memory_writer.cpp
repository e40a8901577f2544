#include "vmm/snapshot/memory_writer.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "common/defer.hpp"
#include "common/file_copy.hpp"
#include "common/unique_fd.hpp"

namespace brood::snapshot {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kPagemapPresent = 1ull << 63;
constexpr uint64_t kPagemapFileOrShared = 1ull << 61;

bool page_is_zero(const uint8_t* p) {
    const auto* words = reinterpret_cast<const uint64_t*>(p);
    for (size_t i = 0; i < kPage / 8; ++i)
        if (words[i]) return false;
    return true;
}

// One bit per guest page: pages worth looking at.
using PageSet = std::vector<bool>;

// Resident pages of an anonymous mapping (mincore). A page that is not
// resident was never touched, or was swapped out: this relies on guest RAM
// not being swapped (brood's hosts have no swap), since a swapped-out page
// would be left out of the snapshot.
Result<PageSet> resident_pages(GuestMemory& memory) {
    std::vector<unsigned char> vec(memory.size() / kPage);
    if (::mincore(memory.host_base(), memory.size(), vec.data()) < 0) return fail_errno("mincore guest memory");
    PageSet set(vec.size());
    for (size_t i = 0; i < vec.size(); ++i) set[i] = vec[i] & 1;
    return set;
}

} // namespace

Result<int> open_pagemap() {
    // Opened once and kept: a VMM that has dropped its uid can no longer open it.
    static int fd = -1;
    if (fd < 0) {
        fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return fail_errno("open /proc/self/pagemap");
    }
    return fd;
}

namespace {

// Pages of a MAP_PRIVATE file mapping that the guest wrote: they stopped
// being page-cache pages and became private anonymous copies.
Result<PageSet> written_pages(GuestMemory& memory) {
    const int fd_num = TRY(open_pagemap());
    size_t pages = memory.size() / kPage;
    PageSet set(pages);
    std::vector<uint64_t> entries(64 * 1024);
    uint64_t first = reinterpret_cast<uint64_t>(memory.host_base()) / kPage;
    for (size_t done = 0; done < pages;) {
        size_t n = std::min(entries.size(), pages - done);
        ssize_t got = ::pread(fd_num, entries.data(), n * 8, static_cast<off_t>((first + done) * 8));
        if (got != static_cast<ssize_t>(n * 8)) return fail_errno("read /proc/self/pagemap");
        for (size_t i = 0; i < n; ++i)
            set[done + i] = (entries[i] & kPagemapPresent) && !(entries[i] & kPagemapFileOrShared);
        done += n;
    }
    return set;
}

Result<void> write_run(int fd, const uint8_t* base, uint64_t first_page, uint64_t count) {
    uint64_t offset = first_page * kPage, left = count * kPage;
    while (left > 0) {
        ssize_t n = ::pwrite(fd, base + offset, left, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return fail_errno("write memory file");
        offset += static_cast<uint64_t>(n);
        left -= static_cast<uint64_t>(n);
    }
    return {};
}

// Writes the selected pages, in runs; zero pages are skipped unless `keep_zero`
// (a diff must overwrite what the copy of the backing file holds there).
Result<void> write_pages(int fd, GuestMemory& memory, const PageSet& pages, bool keep_zero, MemoryWriteStats& stats) {
    const uint8_t* base = memory.host_base();
    uint64_t run_start = 0, run_len = 0;
    for (uint64_t p = 0; p <= pages.size(); ++p) {
        bool take = p < pages.size() && pages[p];
        if (take) {
            ++stats.pages_scanned;
            take = keep_zero || !page_is_zero(base + p * kPage);
        }
        if (take) {
            if (run_len == 0) run_start = p;
            ++run_len;
            continue;
        }
        if (run_len) {
            TRY(write_run(fd, base, run_start, run_len));
            stats.bytes_written += run_len * kPage;
            run_len = 0;
        }
    }
    return {};
}

} // namespace

Result<MemoryWriteStats> write_memory_file(GuestMemory& memory, const std::string& path, bool diff) {
    const auto& backing = memory.backing();
    if (diff && !backing) return fail("a diff snapshot needs memory restored from a file (backend \"file\")");
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) return fail(Error::from_errno(fmt::format("create {}", path)));
    Defer remove_partial([&] { ::unlink(path.c_str()); });

    MemoryWriteStats stats;
    stats.diff = diff;
    if (diff) {
        auto copied = TRY_CTX(copy_fd_sparse(backing->fd.get(), fd.get()), "copy the backing memory file");
        stats.reflinked = copied.reflinked;
        stats.bytes_copied = copied.bytes_copied;
        auto written = TRY(written_pages(memory));
        TRY(write_pages(fd.get(), memory, written, true, stats));
    } else {
        if (::ftruncate(fd.get(), static_cast<off_t>(memory.size())) < 0) return fail_errno("size memory file");
        PageSet pages;
        if (backing) {
            // Pages that differ from zero are in the file's data extents or were written.
            pages = TRY(written_pages(memory));
            TRY(for_each_data_extent(backing->fd.get(), [&](uint64_t off, uint64_t len) -> Result<void> {
                for (uint64_t p = off / kPage; p < (off + len + kPage - 1) / kPage && p < pages.size(); ++p)
                    pages[p] = true;
                return {};
            }));
        } else {
            pages = TRY(resident_pages(memory));
        }
        TRY(write_pages(fd.get(), memory, pages, false, stats));
    }
    if (::fsync(fd.get()) < 0) return fail_errno("fsync memory file");
    remove_partial.cancel();
    return stats;
}

} // namespace brood::snapshot
