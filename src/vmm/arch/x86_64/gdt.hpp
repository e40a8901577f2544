// The boot GDT, TSS and identity page tables written into guest memory before
// the first instruction. Linux loads its own right away; they only have to be
// valid for the entry paths (64-bit Linux boot protocol, 32-bit PVH).
#pragma once

#include <cstdint>

#include "common/result.hpp"
#include "vmm/arch/x86_64/cpu_state.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace brood::x86 {

// Selectors of the boot GDT at kGdtAddr.
inline constexpr uint16_t kCode32Selector = 0x08; // flat 4 GiB, 32-bit (PVH entry)
inline constexpr uint16_t kCode64Selector = 0x10; // 64-bit (Linux __BOOT_CS)
inline constexpr uint16_t kDataSelector = 0x18;   // flat 4 GiB read/write (Linux __BOOT_DS)
inline constexpr uint16_t kTssSelector = 0x20;    // 16-byte 64-bit TSS descriptor
inline constexpr size_t kGdtEntries = 6;          // null, code32, code64, data, TSS (2 slots)

// Raw 8-byte descriptors of the boot GDT, in order.
const uint64_t* boot_gdt_entries();

// The hidden (cached) part of each segment register, consistent with the
// descriptors above, as KVM_SET_SREGS wants it.
Segment code32_segment();
Segment code64_segment();
Segment data_segment();
Segment tss_segment();
Segment unusable_ldt_segment();
DescriptorTable boot_gdt_table();

// Writes the GDT, a zeroed TSS and page tables that identity-map the first
// 4 GiB with 2 MiB pages (PML4 -> PDPT -> 4 PDs), at the addresses of layout.hpp.
Result<void> write_boot_gdt_and_page_tables(GuestMemory& mem);

} // namespace brood::x86
