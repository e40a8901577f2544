// Which guest pages a snapshot writes: made-up pagemap entries for every
// case (present, swapped, page-cache, none), then real mappings.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

#include "vmm/snapshot/page_selection.hpp"

namespace brood::snapshot {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kPfn = 0x1234; // low bits: a frame or swap offset, ignored
constexpr uint64_t kPresent = kPagemapPresent | kPfn;
constexpr uint64_t kSwapped = kPagemapSwapped | kPfn;
constexpr uint64_t kCachePage = kPagemapPresent | kPagemapFileOrShared | kPfn;
constexpr uint64_t kNone = 0;

TEST(SnapshotPages, AnonymousRamKeepsPresentAndSwappedPages) {
    std::vector<uint64_t> map{kPresent, kSwapped, kNone, kPresent | kPagemapFileOrShared, kNone};
    EXPECT_EQ(pages_with_data(map), (PageSet{true, true, false, true, false}));
}

TEST(SnapshotPages, FileMappingKeepsWrittenPagesEvenWhenSwapped) {
    // A written page is private (no file bit) whether in RAM or in swap; a
    // page-cache page the guest only read is in the base file already.
    std::vector<uint64_t> map{kPresent, kSwapped, kCachePage, kNone, kPagemapSwapped | kPagemapFileOrShared};
    EXPECT_EQ(privately_written_pages(map), (PageSet{true, true, false, false, false}));
}

TEST(SnapshotPages, RunsAreMaximalAndOrdered) {
    EXPECT_TRUE(runs_of(PageSet{}).empty());
    EXPECT_TRUE(runs_of(PageSet{false, false}).empty());
    EXPECT_EQ(runs_of(PageSet{true}), (std::vector<PageRun>{{0, 1}}));
    EXPECT_EQ(runs_of(PageSet{true, true, false, true, false, false, true, true, true}),
              (std::vector<PageRun>{{0, 2}, {3, 1}, {6, 3}}));
    // A swapped page in the middle of resident ones does not split the run.
    std::vector<uint64_t> map{kPresent, kSwapped, kPresent, kNone, kSwapped};
    EXPECT_EQ(runs_of(pages_with_data(map)), (std::vector<PageRun>{{0, 3}, {4, 1}}));
}

struct Unmap {
    void* base;
    size_t size;
    ~Unmap() { ::munmap(base, size); }
};

TEST(SnapshotPages, RealAnonymousMappingSelectsTouchedPagesAfterPageout) {
    constexpr uint64_t pages = 8;
    void* base = ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(base, MAP_FAILED);
    Unmap unmap{base, pages * kPage};
    auto* bytes = static_cast<uint8_t*>(base);
    bytes[1 * kPage] = 1;
    bytes[2 * kPage] = 2;
    bytes[6 * kPage] = 6;
    // With swap, this pushes the pages out (they become swap entries); without
    // swap it is a no-op. The selection must hold them either way.
    (void)::madvise(base, pages * kPage, MADV_PAGEOUT);
    auto map = read_pagemap(base, pages);
    ASSERT_TRUE(map) << map.error().message();
    EXPECT_EQ(runs_of(pages_with_data(*map)), (std::vector<PageRun>{{1, 2}, {6, 1}}));
}

TEST(SnapshotPages, RealPrivateFileMappingSelectsOnlyWrittenPages) {
    char path[] = "/tmp/brood-pages-XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::unlink(path);
    constexpr uint64_t pages = 6;
    std::vector<uint8_t> content(pages * kPage, 0x5a);
    ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
    void* base = ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    ::close(fd);
    ASSERT_NE(base, MAP_FAILED);
    Unmap unmap{base, pages * kPage};
    auto* bytes = static_cast<volatile uint8_t*>(base);
    uint8_t sum = 0;
    for (uint64_t p = 0; p < pages; ++p) sum = static_cast<uint8_t>(sum + bytes[p * kPage]); // page-cache pages
    EXPECT_EQ(sum, static_cast<uint8_t>(0x5a * pages));
    bytes[0] = 1;          // private copies
    bytes[4 * kPage] = 4;
    // Clean page-cache pages may be dropped; the private copies stay (in RAM
    // or, with swap, in swap).
    (void)::madvise(base, pages * kPage, MADV_PAGEOUT);
    auto map = read_pagemap(base, pages);
    ASSERT_TRUE(map) << map.error().message();
    EXPECT_EQ(runs_of(privately_written_pages(*map)), (std::vector<PageRun>{{0, 1}, {4, 1}}));
}

} // namespace
} // namespace brood::snapshot
