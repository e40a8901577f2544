#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "test_images.hpp"
#include "vmm/arch/x86_64/gdt.hpp"
#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/arch/x86_64/msr.hpp"
#include "vmm/arch/x86_64/regs.hpp"

namespace brood::x86 {
namespace {

using test::get;

// Walks the boot page tables like the MMU would, for a 2 MiB-page mapping.
uint64_t translate(GuestMemory& mem, uint64_t va) {
    const uint8_t* base = mem.host_base();
    uint64_t pml4e = get<uint64_t>(base, kPml4Addr + ((va >> 39) & 511) * 8);
    EXPECT_TRUE(pml4e & 1);
    uint64_t pdpte = get<uint64_t>(base, (pml4e & ~0xFFFull) + ((va >> 30) & 511) * 8);
    EXPECT_TRUE(pdpte & 1);
    uint64_t pde = get<uint64_t>(base, (pdpte & ~0xFFFull) + ((va >> 21) & 511) * 8);
    EXPECT_EQ(pde & 0x83, 0x83u) << "present, writable, 2 MiB page";
    return (pde & ~0x1FFFFFull) | (va & 0x1FFFFF);
}

TEST(BootGdt, PageTablesIdentityMapTheFirstFourGiB) {
    auto mem = GuestMemory::anonymous(64 * kMiB).value();
    ASSERT_TRUE(write_boot_gdt_and_page_tables(mem));
    for (uint64_t va : {0ull, 0x1234ull, 0x100000ull, 0x3FFFFFFull, 0xBFFFFFFFull, 0xC0000000ull,
                        0xFEE00000ull, 0xFFFFFFFFull})
        EXPECT_EQ(translate(mem, va), va) << std::hex << va;
    // Nothing maps the second 512 GiB slot or the fifth GiB.
    EXPECT_EQ(get<uint64_t>(mem.host_base(), kPml4Addr + 8), 0u);
    EXPECT_EQ(get<uint64_t>(mem.host_base(), kPdptAddr + 4 * 8), 0u);
}

TEST(BootGdt, DescriptorsMatchTheSegmentCaches) {
    auto mem = GuestMemory::anonymous(64 * kMiB).value();
    ASSERT_TRUE(write_boot_gdt_and_page_tables(mem));
    auto gdt = boot_gdt_table();
    EXPECT_EQ(gdt.base, kGdtAddr);
    EXPECT_EQ(gdt.limit, kGdtEntries * 8 - 1);
    auto entry = [&](uint16_t selector) { return get<uint64_t>(mem.host_base(), kGdtAddr + selector); };
    EXPECT_EQ(entry(0), 0u);
    EXPECT_EQ(entry(kCode32Selector), 0x00CF9B000000FFFFull);
    EXPECT_EQ(entry(kCode64Selector), 0x00AF9B000000FFFFull);
    EXPECT_EQ(entry(kDataSelector), 0x00CF93000000FFFFull);
    const uint64_t tss = entry(kTssSelector);
    EXPECT_EQ((tss >> 40) & 0xFF, 0x8Bu) << "present busy TSS";
    EXPECT_EQ(((tss >> 16) & 0xFFFFFF) | ((tss >> 56) << 24), kTssAddr);
    EXPECT_EQ(tss & 0xFFFF, kTssLimit);
    // Every segment cache names a selector whose descriptor agrees with it.
    for (const Segment& seg : {code32_segment(), code64_segment(), data_segment()}) {
        const uint64_t d = entry(seg.selector);
        EXPECT_EQ((d >> 40) & 0xF, seg.type);
        EXPECT_EQ((d >> 53) & 1, seg.l);
        EXPECT_EQ((d >> 54) & 1, seg.db);
        EXPECT_EQ((d >> 55) & 1, seg.g);
    }
}

TEST(BootRegs, Linux64EntersLongModeWithTheZeroPageInRsi) {
    const auto s = linux64_boot_state(0x1000200, kZeroPageAddr);
    EXPECT_EQ(s.regs.rip, 0x1000200u);
    EXPECT_EQ(s.regs.rsi, kZeroPageAddr);
    EXPECT_EQ(s.regs.rsp, kBootStackPointer);
    EXPECT_EQ(s.regs.rflags, 2u);
    EXPECT_EQ(s.sregs.cr0, kCr0Pe | kCr0Et | kCr0Ne | kCr0Pg);
    EXPECT_EQ(s.sregs.cr3, kPml4Addr);
    EXPECT_EQ(s.sregs.cr4, kCr4Pae);
    EXPECT_EQ(s.sregs.efer, kEferLme | kEferLma);
    EXPECT_EQ(s.sregs.cs.selector, 0x10);
    EXPECT_EQ(s.sregs.cs.l, 1);
    EXPECT_EQ(s.sregs.cs.db, 0);
    for (const Segment* seg : {&s.sregs.ds, &s.sregs.es, &s.sregs.ss, &s.sregs.fs, &s.sregs.gs})
        EXPECT_EQ(seg->selector, 0x18);
    EXPECT_EQ(s.sregs.tr.selector, kTssSelector);
    EXPECT_EQ(s.sregs.tr.type, 0xB);
    EXPECT_EQ(s.sregs.tr.present, 1);
    EXPECT_EQ(s.sregs.ldt.unusable, 1);
    EXPECT_EQ(s.sregs.apic_base, 0xFEE00900u);
    EXPECT_TRUE(kBootStackPointer > kBootStackAddr && kBootStackPointer < kPml4Addr);
}

TEST(BootRegs, PvhEntersFlatProtectedModeWithStartInfoInEbx) {
    const auto s = pvh_boot_state(0x100040, static_cast<uint32_t>(kPvhStartInfoAddr));
    EXPECT_EQ(s.regs.rip, 0x100040u);
    EXPECT_EQ(s.regs.rbx, kPvhStartInfoAddr);
    EXPECT_EQ(s.regs.rflags, 2u);
    EXPECT_EQ(s.sregs.cr0, kCr0Pe | kCr0Et);
    EXPECT_EQ(s.sregs.cr4, 0u);
    EXPECT_EQ(s.sregs.efer, 0u);
    EXPECT_EQ(s.sregs.cs.selector, kCode32Selector);
    EXPECT_EQ(s.sregs.cs.db, 1);
    EXPECT_EQ(s.sregs.cs.l, 0);
    for (const Segment* seg : {&s.sregs.cs, &s.sregs.ds, &s.sregs.es, &s.sregs.ss}) {
        EXPECT_EQ(seg->base, 0u);
        EXPECT_EQ(seg->limit, 0xFFFFFFFFu);
        EXPECT_EQ(seg->g, 1);
        EXPECT_EQ(seg->present, 1);
    }
}

TEST(BootRegs, LapicLintsBecomeExtIntAndNmi) {
    std::array<uint8_t, 1024> regs{};
    const uint32_t masked_fixed = 0x10000 | 0x30;
    std::memcpy(regs.data() + 0x350, &masked_fixed, 4);
    std::memcpy(regs.data() + 0x360, &masked_fixed, 4);
    regs[0x340] = 0xAB; // a neighbour that must stay untouched
    configure_lapic_lints(regs);
    EXPECT_EQ(get<uint32_t>(regs.data(), 0x350), 0x10000u | 0x700u | 0x30u);
    EXPECT_EQ(get<uint32_t>(regs.data(), 0x360), 0x10000u | 0x400u | 0x30u);
    EXPECT_EQ(regs[0x340], 0xAB);
}

TEST(Msrs, BootValuesAreTheDocumentedOnes) {
    const auto msrs = boot_msrs();
    auto value_of = [&](uint32_t index) -> std::optional<uint64_t> {
        for (const auto& m : msrs)
            if (m.index == index) return m.value;
        return std::nullopt;
    };
    for (uint32_t zeroed : {0x174u, 0x175u, 0x176u, 0xC0000081u, 0xC0000082u, 0xC0000083u,
                            0xC0000084u, 0xC0000102u, 0x10u})
        EXPECT_EQ(value_of(zeroed), 0u) << std::hex << zeroed;
    EXPECT_EQ(value_of(0x1A0), 1u);
    EXPECT_EQ(value_of(0x2FF), 0x806u);
}

TEST(Msrs, SnapshotListCoversBootMsrsClocksAndMtrrsWithoutDuplicates) {
    auto list = snapshot_msr_indices();
    for (const auto& m : boot_msrs())
        EXPECT_NE(std::find(list.begin(), list.end(), m.index), list.end()) << std::hex << m.index;
    for (uint32_t index : {0x277u, 0xC0000103u, 0x4B564D00u, 0x4B564D01u, 0x11u, 0x12u, 0x4B564D02u,
                           0x4B564D03u, 0x4B564D04u, 0x6E0u, 0x48u, 0x250u, 0x258u, 0x259u, 0x268u,
                           0x26Fu, 0x200u, 0x20Fu})
        EXPECT_NE(std::find(list.begin(), list.end(), index), list.end()) << std::hex << index;
    auto sorted = list;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
    // The TSC comes back before the TSC deadline and kvmclock, which depend on it.
    auto pos = [&](uint32_t index) { return std::find(list.begin(), list.end(), index) - list.begin(); };
    EXPECT_LT(pos(0x10), pos(0x6E0));
    EXPECT_LT(pos(0x10), pos(0x4B564D01));
}

TEST(Msrs, HostFilterKeepsListedMsrsAndAlwaysTheMtrrs) {
    const std::vector<uint32_t> kvm_list = {0x10, 0x277, 0xC0000082, 0x4B564D01, 0x10A, 0x3A};
    const auto out = snapshot_msrs_for_host(kvm_list);
    for (uint32_t index : {0x10u, 0x277u, 0xC0000082u, 0x4B564D01u, 0x2FFu, 0x250u, 0x26Fu, 0x200u, 0x20Fu})
        EXPECT_NE(std::find(out.begin(), out.end(), index), out.end()) << std::hex << index;
    for (uint32_t index : {0x10Au, 0x3Au, 0x48u, 0x6E0u, 0x12u})
        EXPECT_EQ(std::find(out.begin(), out.end(), index), out.end()) << std::hex << index;
    EXPECT_FALSE(is_mtrr_msr(0x210));
    EXPECT_FALSE(is_mtrr_msr(0x270));
}

} // namespace
} // namespace brood::x86
