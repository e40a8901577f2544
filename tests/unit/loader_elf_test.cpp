#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "test_images.hpp"
#include "vmm/arch/x86_64/e820.hpp"
#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/loader/loader.hpp"
#include "vmm/loader/pvh.hpp"

namespace brood::loader {
namespace {

using test::get;
using x86::kMiB;

void expect_segments_loaded(GuestMemory& mem, const test::ElfSpec& spec) {
    for (const auto& seg : spec.segments) {
        EXPECT_EQ(std::memcmp(mem.host_base() + seg.paddr, seg.data.data(), seg.data.size()), 0);
        for (uint64_t a = seg.paddr + seg.data.size(); a < seg.paddr + seg.memsz; a++)
            ASSERT_EQ(mem.host_base()[a], 0) << "bss byte at " << std::hex << a;
    }
}

// Checks hvm_start_info and everything it points at; returns it.
pvh::StartInfo expect_start_info(GuestMemory& mem, const char* cmdline, uint64_t rsdp = 0) {
    pvh::StartInfo info{};
    std::memcpy(&info, mem.host_base() + x86::kPvhStartInfoAddr, sizeof(info));
    EXPECT_EQ(info.magic, 0x336EC578u);
    EXPECT_EQ(info.version, 1u);
    EXPECT_EQ(info.rsdp_paddr, rsdp);
    EXPECT_STREQ(reinterpret_cast<const char*>(mem.host_base() + info.cmdline_paddr), cmdline);
    const auto e820 = x86::build_e820(mem.layout());
    EXPECT_EQ(info.memmap_entries, e820.size());
    for (size_t i = 0; i < e820.size() && i < info.memmap_entries; i++) {
        pvh::MemmapEntry m{};
        std::memcpy(&m, mem.host_base() + info.memmap_paddr + i * sizeof(m), sizeof(m));
        EXPECT_EQ(m.addr, e820[i].addr);
        EXPECT_EQ(m.size, e820[i].size);
        EXPECT_EQ(m.type, static_cast<uint32_t>(e820[i].type));
    }
    return info;
}

TEST(ElfLoader, PvhKernelBootsThroughStartInfo) {
    const auto spec = test::small_pvh_kernel();
    auto mem = GuestMemory::anonymous(32 * kMiB).value();
    std::memset(mem.host_base() + 0x103000, 0xCC, 0x3000); // stale bytes where the bss goes
    auto entry = load_kernel(test::make_elf(spec), {"console=ttyS0", std::nullopt, 1}, mem);
    ASSERT_TRUE(entry) << entry.error().message();
    EXPECT_EQ(entry->protocol, BootProtocol::Pvh);
    EXPECT_EQ(entry->entry, 0x100040u);
    EXPECT_EQ(entry->cpu.regs.rip, 0x100040u);
    EXPECT_EQ(entry->cpu.regs.rbx, x86::kPvhStartInfoAddr);
    EXPECT_EQ(entry->cpu.sregs.cr0 & 0x80000001u, 1u) << "protected mode, paging off";
    EXPECT_EQ(entry->kernel_start, 0x100000u);
    EXPECT_EQ(entry->kernel_end, 0x106000u);
    expect_segments_loaded(mem, spec);
    auto info = expect_start_info(mem, "console=ttyS0");
    EXPECT_EQ(info.nr_modules, 0u);
}

TEST(ElfLoader, PvhInitrdIsTheOnlyModule) {
    const auto initrd = test::pattern(2 * kMiB + 1, 4);
    auto mem = GuestMemory::anonymous(32 * kMiB).value();
    auto entry = load_kernel(test::make_elf(test::small_pvh_kernel()), {"", std::span(initrd), 1}, mem);
    ASSERT_TRUE(entry) << entry.error().message();
    auto info = expect_start_info(mem, "");
    ASSERT_EQ(info.nr_modules, 1u);
    pvh::ModlistEntry module{};
    std::memcpy(&module, mem.host_base() + info.modlist_paddr, sizeof(module));
    EXPECT_EQ(module.paddr, entry->initrd_addr);
    EXPECT_EQ(module.size, initrd.size());
    EXPECT_EQ(module.paddr, (32 * kMiB - initrd.size()) & ~4095ull);
    EXPECT_EQ(std::memcmp(mem.host_base() + module.paddr, initrd.data(), initrd.size()), 0);
}

TEST(ElfLoader, PvhNoteWithAnEightByteEntryAsLinuxWritesIt) {
    auto spec = test::small_pvh_kernel();
    spec.pvh_desc_size = 8;
    spec.other_note_first = false;
    auto mem = GuestMemory::anonymous(32 * kMiB).value();
    auto entry = load_kernel(test::make_elf(spec), {"", std::nullopt, 1}, mem);
    ASSERT_TRUE(entry) << entry.error().message();
    EXPECT_EQ(entry->entry, 0x100040u);
}

TEST(ElfLoader, Elf32PvhKernelIsAccepted) {
    auto spec = test::small_pvh_kernel();
    spec.elf32 = true;
    auto mem = GuestMemory::anonymous(32 * kMiB).value();
    auto entry = load_kernel(test::make_elf(spec), {"", std::nullopt, 1}, mem);
    ASSERT_TRUE(entry) << entry.error().message();
    EXPECT_EQ(entry->protocol, BootProtocol::Pvh);
    expect_segments_loaded(mem, spec);
}

TEST(ElfLoader, Elf64WithoutPvhNoteUsesTheLinux64Protocol) {
    auto spec = test::small_pvh_kernel();
    spec.pvh_entry.reset();
    spec.entry = 0x100000;
    const auto initrd = test::pattern(100000, 5);
    auto mem = GuestMemory::anonymous(32 * kMiB).value();
    auto entry = load_kernel(test::make_elf(spec), {"root=/dev/vda", std::span(initrd), 1}, mem);
    ASSERT_TRUE(entry) << entry.error().message();
    EXPECT_EQ(entry->protocol, BootProtocol::Linux64);
    EXPECT_EQ(entry->cpu.regs.rip, 0x100000u);
    EXPECT_EQ(entry->cpu.regs.rsi, x86::kZeroPageAddr);
    EXPECT_EQ(entry->cpu.sregs.efer & 0x500, 0x500u);
    const uint8_t* zp = mem.host_base() + x86::kZeroPageAddr;
    EXPECT_EQ(get<uint16_t>(zp, 0x1FE), 0xAA55);
    EXPECT_EQ(get<uint32_t>(zp, 0x202), 0x53726448u);
    EXPECT_EQ(get<uint32_t>(zp, 0x228), x86::kCmdlineAddr);
    EXPECT_EQ(get<uint32_t>(zp, 0x218), entry->initrd_addr);
    EXPECT_EQ(get<uint32_t>(zp, 0x21C), initrd.size());
    EXPECT_EQ(zp[0x1E8], x86::build_e820(mem.layout()).size());
    EXPECT_STREQ(reinterpret_cast<const char*>(mem.host_base() + x86::kCmdlineAddr), "root=/dev/vda");
}

std::filesystem::path find_test_guest() {
    if (const char* env = std::getenv("BROOD_TEST_GUEST"); env && *env) return env;
    for (const char* candidate : {BROOD_TEST_GUEST_DEFAULT, BROOD_SOURCE_DIR "/build/guest/brood-test-guest.elf"})
        if (std::filesystem::exists(candidate)) return candidate;
    return {};
}

TEST(ElfLoader, RealTestGuestLoads) {
    const auto path = find_test_guest();
    if (path.empty()) GTEST_SKIP() << "no test guest built (set BROOD_TEST_GUEST to run this)";
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << "cannot read " << path;
    std::vector<uint8_t> image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto mem = GuestMemory::anonymous(64 * kMiB).value();
    auto state = prepare_boot(image, {"", std::nullopt, 2}, mem);
    ASSERT_TRUE(state) << path << ": " << state.error().message();
    EXPECT_TRUE(mem.layout().offset_of(state->regs.rip, 1)) << "entry is in RAM";
    if (state->regs.rbx == x86::kPvhStartInfoAddr) expect_start_info(mem, "", x86::kAcpiRsdpAddr);
}

TEST(ElfLoader, PrepareBootHandsThePvhKernelTheRsdp) {
    auto mem = GuestMemory::anonymous(64 * kMiB).value();
    auto state = prepare_boot(test::make_elf(test::small_pvh_kernel()), {"", std::nullopt, 2}, mem);
    ASSERT_TRUE(state) << state.error().message();
    expect_start_info(mem, "", x86::kAcpiRsdpAddr);
    EXPECT_EQ(std::memcmp(mem.host_base() + x86::kAcpiRsdpAddr, "RSD PTR ", 8), 0);
    EXPECT_EQ(std::memcmp(mem.host_base() + x86::kMpTableAddr, "_MP_", 4), 0);
}

} // namespace
} // namespace brood::loader
