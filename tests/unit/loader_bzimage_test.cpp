#include <gtest/gtest.h>

#include <cstring>

#include "test_images.hpp"
#include "vmm/arch/x86_64/e820.hpp"
#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/loader/boot_params.hpp"
#include "vmm/loader/loader.hpp"

namespace brood::loader {
namespace {

using test::get;
using x86::kMiB;

struct Loaded {
    GuestMemory mem;
    KernelEntry entry;
};

Loaded load(const std::vector<uint8_t>& image, const BootParams& p, uint64_t ram = 64 * kMiB) {
    auto mem = GuestMemory::anonymous(ram).value();
    auto entry = load_kernel(image, p, mem);
    EXPECT_TRUE(entry) << entry.error().message();
    return {std::move(mem), entry ? *entry : KernelEntry{}};
}

const uint8_t* zero_page(const Loaded& l) { return l.mem.host_base() + x86::kZeroPageAddr; }

TEST(BzImage, LoadsTheProtectedModePartAtOneMiBAndEntersAt0x200) {
    const auto image = test::make_bzimage();
    auto l = load(image, {"console=ttyS0", std::nullopt, 1});
    EXPECT_EQ(l.entry.format, KernelFormat::BzImage);
    EXPECT_EQ(l.entry.protocol, BootProtocol::Linux64);
    EXPECT_EQ(l.entry.entry, 0x100200u);
    EXPECT_EQ(l.entry.cpu.regs.rip, 0x100200u);
    EXPECT_EQ(l.entry.cpu.regs.rsi, x86::kZeroPageAddr);
    EXPECT_EQ(l.entry.cpu.sregs.cs.selector, 0x10);
    const size_t setup = 5 * 512;
    EXPECT_EQ(std::memcmp(l.mem.host_base() + 0x100000, image.data() + setup, image.size() - setup), 0);
    // Room to decompress: from the 16 MiB preferred address, init_size bytes.
    EXPECT_EQ(l.entry.kernel_end, 16 * kMiB + 4 * kMiB);
}

TEST(BzImage, ZeroPageCarriesTheHeaderAndTheLoaderFields) {
    const auto initrd = test::pattern(3 * kMiB + 123, 9);
    auto l = load(test::make_bzimage(), {"console=ttyS0 quiet", std::span(initrd), 1});
    const uint8_t* zp = zero_page(l);
    EXPECT_EQ(get<uint16_t>(zp, 0x1FE), 0xAA55);
    EXPECT_EQ(get<uint32_t>(zp, 0x202), 0x53726448u);
    EXPECT_EQ(get<uint16_t>(zp, 0x206), 0x020F);
    EXPECT_EQ(get<uint16_t>(zp, 0x1FC), 0x0301) << "root_dev copied from the image";
    EXPECT_EQ(get<uint32_t>(zp, 0x260), 4 * kMiB) << "init_size copied from the image";
    EXPECT_EQ(zp[0x210], 0xFF) << "type_of_loader";
    EXPECT_EQ(zp[0x211], 0x81) << "LOADED_HIGH | CAN_USE_HEAP";
    EXPECT_EQ(get<uint16_t>(zp, 0x224), 0xFE00 - 0x200) << "heap_end_ptr";
    EXPECT_EQ(get<uint16_t>(zp, 0x1FA), 0xFFFF) << "vid_mode";
    EXPECT_EQ(get<uint32_t>(zp, 0x228), x86::kCmdlineAddr);
    EXPECT_EQ(get<uint32_t>(zp, 0xC8), 0u) << "ext_cmd_line_ptr";
    EXPECT_STREQ(reinterpret_cast<const char*>(l.mem.host_base() + x86::kCmdlineAddr),
                 "console=ttyS0 quiet");

    const uint32_t ramdisk = get<uint32_t>(zp, 0x218);
    EXPECT_EQ(ramdisk, l.entry.initrd_addr);
    EXPECT_EQ(get<uint32_t>(zp, 0x21C), initrd.size());
    EXPECT_EQ(get<uint32_t>(zp, 0xC0), 0u);
    EXPECT_EQ(get<uint32_t>(zp, 0xC4), 0u);
    EXPECT_EQ(std::memcmp(l.mem.host_base() + ramdisk, initrd.data(), initrd.size()), 0);

    const auto expected = x86::build_e820(l.mem.layout());
    ASSERT_EQ(zp[0x1E8], expected.size());
    for (size_t i = 0; i < expected.size(); i++) {
        EXPECT_EQ(get<uint64_t>(zp, 0x2D0 + i * 20), expected[i].addr);
        EXPECT_EQ(get<uint64_t>(zp, 0x2D0 + i * 20 + 8), expected[i].size);
        EXPECT_EQ(get<uint32_t>(zp, 0x2D0 + i * 20 + 16), static_cast<uint32_t>(expected[i].type));
    }
    EXPECT_EQ(zp[0x1EF], 0) << "sentinel";
}

TEST(BzImage, InitrdGoesAsHighAsAllowedAndPageAligned) {
    const auto initrd = test::pattern(5000, 3);
    auto l = load(test::make_bzimage(), {"", std::span(initrd), 1});
    EXPECT_EQ(l.entry.initrd_addr % 4096, 0u);
    EXPECT_EQ(l.entry.initrd_addr, (64 * kMiB - 5000) & ~4095ull);
    EXPECT_GE(l.entry.initrd_addr, l.entry.kernel_end);

    test::BzImageSpec capped;
    capped.initrd_addr_max = 40 * kMiB - 1;
    auto c = load(test::make_bzimage(capped), {"", std::span(initrd), 1});
    EXPECT_EQ(c.entry.initrd_addr, (40 * kMiB - 5000) & ~4095ull);
}

TEST(BzImage, KernelWithoutAPreferredAddressDecompressesAboveTheLoadAddress) {
    test::BzImageSpec spec;
    spec.pref_address = 0;
    spec.init_size = 8 * kMiB;
    auto l = load(test::make_bzimage(spec), {"", std::nullopt, 1});
    EXPECT_EQ(l.entry.kernel_end, 2 * kMiB + 8 * kMiB); // 1 MiB aligned up to 2 MiB
}

TEST(BzImage, SetupSectsZeroMeansFour) {
    test::BzImageSpec spec;
    spec.setup_sects = 0;
    const auto image = test::make_bzimage(spec);
    auto l = load(image, {"", std::nullopt, 1});
    EXPECT_EQ(std::memcmp(l.mem.host_base() + 0x100000, image.data() + 5 * 512, 4096), 0);
}

TEST(BzImage, PrepareBootWritesEverythingAndReturnsTheEntryState) {
    auto mem = GuestMemory::anonymous(64 * kMiB).value();
    KernelEntry details;
    auto state = prepare_boot(test::make_bzimage(), {"console=ttyS0", std::nullopt, 2}, mem, &details);
    ASSERT_TRUE(state) << state.error().message();
    EXPECT_EQ(state->regs.rip, 0x100200u);
    EXPECT_EQ(details.protocol, BootProtocol::Linux64);
    EXPECT_EQ(std::memcmp(mem.host_base() + x86::kMpTableAddr, "_MP_", 4), 0);
    EXPECT_NE(get<uint64_t>(mem.host_base(), x86::kPml4Addr), 0u);
    EXPECT_EQ(get<uint64_t>(mem.host_base(), x86::kGdtAddr + 0x10), 0x00AF9B000000FFFFull);
    EXPECT_STREQ(to_string(details.protocol), "linux64");
    EXPECT_STREQ(to_string(details.format), "bzImage");
    EXPECT_EQ(std::memcmp(mem.host_base() + x86::kAcpiRsdpAddr, "RSD PTR ", 8), 0);
    EXPECT_EQ(get<uint64_t>(mem.host_base(), x86::kZeroPageAddr + 0x70), x86::kAcpiRsdpAddr);
}

TEST(BzImage, RsdpAddressOnlyForProtocol214AndNewer) {
    for (uint16_t version : {0x020C, 0x020D, 0x020E, 0x020F}) {
        SCOPED_TRACE(version);
        test::BzImageSpec spec;
        spec.version = version;
        auto mem = GuestMemory::anonymous(64 * kMiB).value();
        ASSERT_TRUE(prepare_boot(test::make_bzimage(spec), {"", std::nullopt, 1}, mem));
        EXPECT_EQ(get<uint64_t>(mem.host_base(), x86::kZeroPageAddr + 0x70),
                  version >= 0x020E ? x86::kAcpiRsdpAddr : 0u);
    }
    // load_kernel alone passes what BootParams says (0: no ACPI tables).
    auto l = load(test::make_bzimage(), {"", std::nullopt, 1});
    EXPECT_EQ(get<uint64_t>(zero_page(l), 0x70), 0u);
}

} // namespace
} // namespace brood::loader
