#include "vmm/arch/x86_64/gdt.hpp"

#include <array>

#include "vmm/arch/x86_64/layout.hpp"

namespace brood::x86 {

namespace {

// Descriptor access byte: P, DPL 0, S (code/data) and the type nibble.
constexpr uint8_t kTypeCodeExecReadAccessed = 0xB;
constexpr uint8_t kTypeDataReadWriteAccessed = 0x3;
constexpr uint8_t kTypeBusyTss = 0xB;

constexpr uint64_t descriptor(uint32_t base, uint32_t limit, uint8_t type, bool s, bool l,
                              bool db, bool g) {
    uint64_t d = limit & 0xFFFFu;
    d |= uint64_t{base & 0xFFFFFFu} << 16;
    d |= uint64_t{type & 0xFu} << 40;
    d |= uint64_t{s} << 44;
    d |= uint64_t{1} << 47; // present, DPL 0
    d |= uint64_t{(limit >> 16) & 0xFu} << 48;
    d |= uint64_t{l} << 53;
    d |= uint64_t{db} << 54;
    d |= uint64_t{g} << 55;
    d |= uint64_t{base >> 24} << 56;
    return d;
}

constexpr std::array<uint64_t, kGdtEntries> kBootGdt = {
    0,
    descriptor(0, 0xFFFFF, kTypeCodeExecReadAccessed, true, false, true, true),
    descriptor(0, 0xFFFFF, kTypeCodeExecReadAccessed, true, true, false, true),
    descriptor(0, 0xFFFFF, kTypeDataReadWriteAccessed, true, false, true, true),
    descriptor(static_cast<uint32_t>(kTssAddr), kTssLimit, kTypeBusyTss, false, false, false,
               false),
    0, // upper half of the TSS descriptor: base bits 63:32 = 0
};
static_assert(kBootGdt[2] == 0x00AF9B000000FFFF);
static_assert(kBootGdt[3] == 0x00CF93000000FFFF);

Segment segment(uint16_t selector, uint8_t type, bool s, bool l, bool db) {
    Segment seg;
    seg.base = 0;
    seg.limit = 0xFFFFFFFF;
    seg.selector = selector;
    seg.type = type;
    seg.present = 1;
    seg.dpl = 0;
    seg.db = db;
    seg.s = s;
    seg.l = l;
    seg.g = 1;
    return seg;
}

constexpr uint64_t kPtePresent = 1, kPteWritable = 2, kPteLargePage = 0x80;

} // namespace

const uint64_t* boot_gdt_entries() { return kBootGdt.data(); }

Segment code32_segment() {
    return segment(kCode32Selector, kTypeCodeExecReadAccessed, true, false, true);
}
Segment code64_segment() {
    return segment(kCode64Selector, kTypeCodeExecReadAccessed, true, true, false);
}
Segment data_segment() {
    return segment(kDataSelector, kTypeDataReadWriteAccessed, true, false, true);
}

Segment tss_segment() {
    Segment seg;
    seg.base = kTssAddr;
    seg.limit = kTssLimit;
    seg.selector = kTssSelector;
    seg.type = kTypeBusyTss;
    seg.present = 1;
    return seg;
}

Segment unusable_ldt_segment() {
    Segment seg;
    seg.type = 0x2; // LDT
    seg.unusable = 1;
    return seg;
}

DescriptorTable boot_gdt_table() {
    return {kGdtAddr, static_cast<uint16_t>(kGdtEntries * sizeof(uint64_t) - 1)};
}

Result<void> write_boot_gdt_and_page_tables(GuestMemory& mem) {
    TRY_CTX(mem.write_obj(kGdtAddr, kBootGdt), "write the boot GDT");
    const std::array<uint8_t, kTssLimit + 1> tss{};
    TRY_CTX(mem.write_obj(kTssAddr, tss), "write the boot TSS");

    std::array<uint64_t, 512> pml4{};
    pml4[0] = kPdptAddr | kPtePresent | kPteWritable;
    std::array<uint64_t, 512> pdpt{};
    for (uint64_t i = 0; i < kPdCount; i++)
        pdpt[i] = (kPdAddr + i * kPageSize) | kPtePresent | kPteWritable;
    TRY_CTX(mem.write_obj(kPml4Addr, pml4), "write the boot PML4");
    TRY_CTX(mem.write_obj(kPdptAddr, pdpt), "write the boot PDPT");

    std::array<uint64_t, 512> pd{};
    for (uint64_t i = 0; i < kPdCount; i++) {
        for (uint64_t j = 0; j < pd.size(); j++)
            pd[j] = ((i * 512 + j) * 2 * kMiB) | kPtePresent | kPteWritable | kPteLargePage;
        TRY_CTX(mem.write_obj(kPdAddr + i * kPageSize, pd), "write the boot page directories");
    }
    return {};
}

} // namespace brood::x86
