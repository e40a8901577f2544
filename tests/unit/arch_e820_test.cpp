#include <gtest/gtest.h>

#include "vmm/arch/x86_64/e820.hpp"
#include "vmm/arch/x86_64/layout.hpp"

namespace brood::x86 {
namespace {

using T = E820Type;

TEST(E820, SmallGuestHasLowRamHolesAndRamFromOneMiB) {
    const auto map = build_e820(GuestLayout(128 * kMiB));
    const std::vector<E820Entry> expected = {
        {0, 0x9FC00, T::Ram},
        {0x9FC00, 0x400, T::Reserved},
        {0xE0000, 0x20000, T::Reserved},
        {0x100000, 127 * kMiB, T::Ram},
    };
    EXPECT_EQ(map, expected);
}

TEST(E820, ExactlyThreeGiBEndsAtTheMmioGap) {
    const auto map = build_e820(GuestLayout(3 * kGiB));
    ASSERT_EQ(map.size(), 4u);
    EXPECT_EQ(map.back(), (E820Entry{kKernelLoadAddr, 3 * kGiB - kKernelLoadAddr, T::Ram}));
}

TEST(E820, MoreThanThreeGiBContinuesAboveFourGiB) {
    const auto map = build_e820(GuestLayout(5 * kGiB));
    ASSERT_EQ(map.size(), 5u);
    EXPECT_EQ(map[3], (E820Entry{kKernelLoadAddr, 3 * kGiB - kKernelLoadAddr, T::Ram}));
    EXPECT_EQ(map[4], (E820Entry{4 * kGiB, 2 * kGiB, T::Ram}));
}

TEST(E820, EntriesAreSortedAndDisjointAndOnlyCoverRam) {
    for (uint64_t size : {2 * kMiB, 64 * kMiB, 3 * kGiB - kMiB, 3 * kGiB, 3 * kGiB + 4096, 16 * kGiB}) {
        const GuestLayout layout(size);
        const auto map = build_e820(layout);
        uint64_t ram = 0;
        for (size_t i = 0; i < map.size(); i++) {
            EXPECT_GT(map[i].size, 0u);
            if (i > 0) {
                EXPECT_LE(map[i - 1].addr + map[i - 1].size, map[i].addr);
            }
            EXPECT_TRUE(layout.offset_of(map[i].addr, map[i].size)) << "entry " << i << " of " << size;
            if (map[i].type == T::Ram) ram += map[i].size;
        }
        // Everything but the EBDA and 640 KiB..1 MiB is usable RAM.
        EXPECT_EQ(ram, size - (kKernelLoadAddr - kEbdaStart));
    }
}

TEST(E820, TinyGuestIsClipped) {
    const auto map = build_e820(GuestLayout(0x80000)); // 512 KiB
    ASSERT_EQ(map.size(), 1u);
    EXPECT_EQ(map[0], (E820Entry{0, 0x80000, T::Ram}));
}

} // namespace
} // namespace brood::x86
