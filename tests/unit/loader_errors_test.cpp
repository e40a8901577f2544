// Malformed kernels, initrds and command lines: every one is a one-line
// error that names the problem, and nothing crashes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <elf.h>

#include <random>
#include <string>

#include "test_images.hpp"
#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/loader/loader.hpp"

namespace brood::loader {
namespace {

using x86::kMiB;

std::string error_of(const std::vector<uint8_t>& image, const BootParams& p = {},
                     uint64_t ram = 64 * kMiB) {
    auto mem = GuestMemory::anonymous(ram).value();
    auto entry = load_kernel(image, p, mem);
    if (entry) return "(loaded)";
    EXPECT_EQ(entry.error().message().find('\n'), std::string::npos);
    return entry.error().message();
}

using ::testing::HasSubstr;

TEST(LoaderErrors, EmptyAndUnknownImages) {
    EXPECT_EQ(error_of({}), "kernel image is empty");
    EXPECT_EQ(error_of({'M', 'Z', 0, 0}), "kernel image is neither an ELF nor a bzImage");
    EXPECT_EQ(error_of(std::vector<uint8_t>(4096, 0)), "kernel image is neither an ELF nor a bzImage");
    EXPECT_EQ(error_of({0x7F, 'E', 'L', 'F'}), "ELF header is truncated (4 bytes)");
}

TEST(LoaderErrors, BzImageHeaderProblems) {
    auto image = test::make_bzimage();
    EXPECT_EQ(error_of({image.begin(), image.begin() + 0x240}), "bzImage setup header is truncated (576 bytes)");

    test::BzImageSpec old;
    old.version = 0x020B;
    EXPECT_EQ(error_of(test::make_bzimage(old)), "bzImage uses boot protocol 2.11; brood needs 2.12 or newer");

    test::BzImageSpec no64;
    no64.xloadflags = 0;
    EXPECT_EQ(error_of(test::make_bzimage(no64)), "bzImage has no 64-bit entry point (XLF_KERNEL_64 is not set)");

    test::BzImageSpec zimage;
    zimage.loadflags = 0;
    EXPECT_THAT(error_of(test::make_bzimage(zimage)), HasSubstr("zImage"));

    EXPECT_THAT(error_of({image.begin(), image.begin() + 5 * 512}), HasSubstr("bzImage is truncated"));
}

TEST(LoaderErrors, BzImageNeedingMoreMemoryThanTheGuestHas) {
    test::BzImageSpec big;
    big.init_size = 60 * kMiB;
    EXPECT_EQ(error_of(test::make_bzimage(big), {}, 64 * kMiB),
              "guest memory (64 MiB) is too small for this kernel, which needs 76 MiB to decompress");
    test::BzImageSpec absurd;
    absurd.pref_address = ~0ull;
    EXPECT_THAT(error_of(test::make_bzimage(absurd)), HasSubstr("too small for this kernel"));
}

TEST(LoaderErrors, ElfHeaderProblems) {
    auto spec = test::small_pvh_kernel();
    auto image = test::make_elf(spec);
    EXPECT_EQ(error_of({image.begin(), image.begin() + 40}), "ELF64 header is truncated (40 bytes)");

    auto bad_class = image;
    bad_class[EI_CLASS] = 7;
    EXPECT_EQ(error_of(bad_class), "ELF kernel has an unknown class 7");

    auto big_endian = image;
    big_endian[EI_DATA] = ELFDATA2MSB;
    EXPECT_EQ(error_of(big_endian), "ELF kernel is not little-endian");

    auto arm = spec;
    arm.machine = EM_AARCH64;
    EXPECT_EQ(error_of(test::make_elf(arm)), "ELF64 kernel is for machine type 183, not x86");

    auto shared = spec;
    shared.type = ET_DYN;
    EXPECT_EQ(error_of(test::make_elf(shared)), "ELF kernel is not an executable (e_type 3)");

    EXPECT_EQ(error_of({image.begin(), image.begin() + sizeof(Elf64_Ehdr) + 10}),
              "ELF program headers are truncated");
    EXPECT_THAT(error_of({image.begin(), image.end() - 10}), HasSubstr("ELF segment 2 is truncated"));

    auto no_segments = spec;
    no_segments.segments.clear();
    EXPECT_EQ(error_of(test::make_elf(no_segments)), "ELF kernel has no loadable segments");
}

TEST(LoaderErrors, ElfSegmentsOutsideRamOrInTheBootArea) {
    auto low = test::small_pvh_kernel();
    low.segments[0].paddr = 0x8000;
    EXPECT_EQ(error_of(test::make_elf(low)),
              "ELF segment 1 at 0x8000 is below 1 MiB, where brood keeps its boot structures");

    auto high = test::small_pvh_kernel();
    high.segments[1].paddr = 63 * kMiB;
    high.segments[1].memsz = 2 * kMiB;
    EXPECT_EQ(error_of(test::make_elf(high)),
              "ELF segment 2 (0x3f00000..0x4100000) is outside guest RAM (64 MiB)");

    auto wrapping = test::small_pvh_kernel();
    wrapping.segments[1].paddr = ~0ull - 100;
    EXPECT_THAT(error_of(test::make_elf(wrapping)), HasSubstr("is outside guest RAM"));
}

TEST(LoaderErrors, ElfEntryProblems) {
    auto pvh_outside = test::small_pvh_kernel();
    pvh_outside.pvh_entry = 0xD0000000;
    EXPECT_EQ(error_of(test::make_elf(pvh_outside)), "PVH entry point 0xd0000000 is not in guest RAM");

    auto bad_note = test::small_pvh_kernel();
    bad_note.pvh_desc_size = 2;
    EXPECT_EQ(error_of(test::make_elf(bad_note)), "PVH entry note has 2 bytes of data, expected 4 or 8");

    auto no_pvh32 = test::small_pvh_kernel();
    no_pvh32.elf32 = true;
    no_pvh32.pvh_entry.reset();
    EXPECT_THAT(error_of(test::make_elf(no_pvh32)), HasSubstr("32-bit ELF kernel has no PVH entry note"));

    auto entry_outside = test::small_pvh_kernel();
    entry_outside.pvh_entry.reset();
    entry_outside.entry = 0xffffffff81000000;
    EXPECT_EQ(error_of(test::make_elf(entry_outside)),
              "ELF entry point 0xffffffff81000000 is not in guest RAM above 1 MiB");
}

TEST(LoaderErrors, InitrdThatDoesNotFit) {
    const auto huge = test::pattern(40 * kMiB, 1);
    // The synthetic bzImage owns everything up to 20 MiB; 64 MiB leaves 44 MiB.
    EXPECT_EQ(error_of(test::make_bzimage(), {"", std::span(huge), 1}, 64 * kMiB), "(loaded)");
    EXPECT_THAT(error_of(test::make_bzimage(), {"", std::span(huge), 1}, 48 * kMiB),
                HasSubstr("initrd (40 MiB) does not fit in guest memory"));
    test::BzImageSpec capped;
    capped.initrd_addr_max = 32 * kMiB - 1;
    EXPECT_THAT(error_of(test::make_bzimage(capped), {"", std::span(huge), 1}, 128 * kMiB),
                HasSubstr("initrd (40 MiB) does not fit in guest memory"));
    const std::vector<uint8_t> empty;
    EXPECT_EQ(error_of(test::make_bzimage(), {"", std::span(empty), 1}), "initrd is empty");
}

TEST(LoaderErrors, CommandLineLongerThanTheKernelAccepts) {
    test::BzImageSpec spec;
    spec.cmdline_size = 255;
    EXPECT_EQ(error_of(test::make_bzimage(spec), {std::string(255, 'x'), std::nullopt, 1}), "(loaded)");
    EXPECT_EQ(error_of(test::make_bzimage(spec), {std::string(256, 'x'), std::nullopt, 1}),
              "kernel command line is 256 bytes long; this kernel accepts at most 255");
    EXPECT_THAT(error_of(test::make_elf(test::small_pvh_kernel()), {std::string(70000, 'x'), std::nullopt, 1}),
                HasSubstr("kernel command line is 70000 bytes long"));
    EXPECT_EQ(error_of(test::make_bzimage(), {std::string("a\0b", 3), std::nullopt, 1}),
              "kernel command line contains a NUL byte");
}

TEST(LoaderErrors, GuestTooSmallToBoot) {
    EXPECT_EQ(error_of(test::make_bzimage(), {}, 1 * kMiB),
              "guest memory (1024 KiB) is too small to boot; brood needs at least 2 MiB");
    auto mem = GuestMemory::anonymous(64 * kMiB).value();
    auto many = prepare_boot(test::make_bzimage(), {"", std::nullopt, 300}, mem);
    ASSERT_FALSE(many);
    EXPECT_EQ(many.error().message(), "300 vCPUs do not fit in an MP table (at most 254)");
}

// Every prefix of valid images, and random corruptions of them, must give
// either a clean load or an error, never a crash or a sanitizer report.
TEST(LoaderErrors, TruncatedAndCorruptedImagesNeverCrash) {
    auto pvh32 = test::small_pvh_kernel();
    pvh32.elf32 = true;
    test::BzImageSpec small_bz;
    small_bz.payload_size = 2048;
    const std::vector<std::vector<uint8_t>> images = {
        test::make_elf(test::small_pvh_kernel()), test::make_elf(pvh32), test::make_bzimage(small_bz)};
    auto mem = GuestMemory::anonymous(32 * kMiB).value();
    const auto initrd = test::pattern(4096, 1);
    const BootParams p{"console=ttyS0", std::span(initrd), 1};
    std::mt19937 rng(1234);
    for (const auto& image : images) {
        for (size_t len = 0; len <= image.size(); len += (len < 1024 ? 1 : 61)) {
            std::vector<uint8_t> prefix(image.begin(), image.begin() + static_cast<long>(len));
            (void)load_kernel(prefix, p, mem);
        }
        for (int round = 0; round < 3000; round++) {
            auto corrupted = image;
            const int flips = 1 + static_cast<int>(rng() % 8);
            for (int i = 0; i < flips; i++) {
                // Mostly the headers, where the offsets and sizes live.
                const size_t span = rng() % 4 ? std::min<size_t>(corrupted.size(), 0x300) : corrupted.size();
                corrupted[rng() % span] = static_cast<uint8_t>(rng());
            }
            auto entry = load_kernel(corrupted, p, mem);
            if (!entry) {
                EXPECT_FALSE(entry.error().message().empty());
            }
        }
    }
}

} // namespace
} // namespace brood::loader
