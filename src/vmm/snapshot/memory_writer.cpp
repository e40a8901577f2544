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
#include "vmm/snapshot/page_selection.hpp"

namespace brood::snapshot {
namespace {

constexpr uint64_t kPage = 4096;

bool page_is_zero(const uint8_t* p) {
    const auto* words = reinterpret_cast<const uint64_t*>(p);
    for (size_t i = 0; i < kPage / 8; ++i)
        if (words[i]) return false;
    return true;
}

// Guest pages that hold data: resident or swapped out. (mincore would miss
// swapped-out pages, which a snapshot must still write.)
Result<PageSet> data_pages_of(GuestMemory& memory) {
    auto entries = TRY(read_pagemap(memory.host_base(), memory.size() / kPage));
    return pages_with_data(entries);
}

// Pages of a MAP_PRIVATE file mapping that the guest wrote.
Result<PageSet> written_pages(GuestMemory& memory) {
    auto entries = TRY(read_pagemap(memory.host_base(), memory.size() / kPage));
    return privately_written_pages(entries);
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
Result<void> write_pages(int fd, GuestMemory& memory, PageSet pages, bool keep_zero, MemoryWriteStats& stats) {
    const uint8_t* base = memory.host_base();
    for (uint64_t p = 0; p < pages.size(); ++p) {
        if (!pages[p]) continue;
        ++stats.pages_scanned;
        if (!keep_zero && page_is_zero(base + p * kPage)) pages[p] = false;
    }
    for (const PageRun& run : runs_of(pages)) {
        TRY(write_run(fd, base, run.first, run.count));
        stats.bytes_written += run.count * kPage;
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
        TRY(write_pages(fd.get(), memory, std::move(written), true, stats));
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
            pages = TRY(data_pages_of(memory));
        }
        TRY(write_pages(fd.get(), memory, std::move(pages), false, stats));
    }
    if (::fsync(fd.get()) < 0) return fail_errno("fsync memory file");
    remove_partial.cancel();
    return stats;
}

} // namespace brood::snapshot
