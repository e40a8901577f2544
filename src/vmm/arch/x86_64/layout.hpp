// Guest-physical addresses of everything the VMM places before the first
// instruction runs. docs/boot.md draws the map and says why each is where.
#pragma once

#include <cstdint>

#include "vmm/memory/guest_memory.hpp"

namespace brood::x86 {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;
inline constexpr uint64_t kPageSize = 4 * kKiB;

// --- Below 640 KiB: boot structures, in ascending order ---------------------

// Boot GDT (see gdt.hpp for its entries) and the 64-bit TSS TR points at.
inline constexpr uint64_t kGdtAddr = 0x500;
inline constexpr uint64_t kTssAddr = 0x580;
inline constexpr uint32_t kTssLimit = 0x67; // 104-byte 64-bit TSS, minus one

// PVH: hvm_start_info, the module list (one entry: the initrd) and the memory map.
inline constexpr uint64_t kPvhStartInfoAddr = 0x6000;
inline constexpr uint64_t kPvhModlistAddr = 0x6040;
inline constexpr uint64_t kPvhMemmapAddr = 0x6080;
inline constexpr uint64_t kPvhMemmapEnd = 0x7000;

// Linux boot protocol: the zero page (struct boot_params), one page.
inline constexpr uint64_t kZeroPageAddr = 0x7000;

// Boot stack for the 64-bit entry: one page, RSP starts 16 bytes below its top.
inline constexpr uint64_t kBootStackAddr = 0x8000;
inline constexpr uint64_t kBootStackPointer = 0x8FF0;

// Identity-mapping page tables for the first 4 GiB (2 MiB pages).
inline constexpr uint64_t kPml4Addr = 0x9000;
inline constexpr uint64_t kPdptAddr = 0xA000;
inline constexpr uint64_t kPdAddr = 0xB000; // four PDs: 0xB000..0xEFFF
inline constexpr uint64_t kPdCount = 4;

// Kernel command line, NUL-terminated. 64 KiB reserved; the kernel's own
// cmdline_size (bzImage) is usually the tighter limit.
inline constexpr uint64_t kCmdlineAddr = 0x20000;
inline constexpr uint64_t kCmdlineMaxSize = 0x10000; // including the NUL

// Extended BIOS data area, reserved in the E820 map (empty here).
inline constexpr uint64_t kEbdaStart = 0x9FC00;
inline constexpr uint64_t kEbdaEnd = 0xA0000;

// --- 640 KiB .. 1 MiB --------------------------------------------------------

// VGA/option ROM hole: not RAM as far as the E820 map goes, nothing placed there.
inline constexpr uint64_t kLegacyHoleStart = 0xA0000;

// BIOS area 0xE0000..0xFFFFF, reserved in the E820 map. Its first 64 KiB hold
// the ACPI tables: the RSDP at exactly 0xE0000 (Linux scans 0xE0000..0xFFFFF
// on 16-byte boundaries for "RSD PTR "), XSDT, FADT, DSDT and MADT after it.
inline constexpr uint64_t kBiosAreaStart = 0xE0000;
inline constexpr uint64_t kAcpiAreaStart = 0xE0000;
inline constexpr uint64_t kAcpiRsdpAddr = 0xE0000;
inline constexpr uint64_t kAcpiAreaEnd = 0xF0000;
// The VM generation ID (16 bytes) that the DSDT's VGEN device points at: the
// last bytes of the ACPI area, reserved like it. A new one is written on
// every restore, so a guest with a vmgenid driver knows it was cloned.
inline constexpr uint64_t kVmGenerationIdAddr = kAcpiAreaEnd - 16;
inline constexpr uint64_t kVmGenerationIdSize = 16;
// The Intel MP table: the floating pointer at exactly 0xF0000 (Linux scans
// 0xF0000..0xFFFFF for "_MP_"), the config table right after it.
inline constexpr uint64_t kMpTableAddr = 0xF0000;
inline constexpr uint64_t kBiosAreaEnd = 0x100000;

// --- 1 MiB and up -------------------------------------------------------------

// Kernel load address: bzImage protected-mode code, lowest allowed ELF segment.
inline constexpr uint64_t kKernelLoadAddr = 0x100000;

// 32-bit MMIO gap (3 GiB .. 4 GiB) and the fixed interrupt controllers in it.
inline constexpr uint64_t kMmioGapStart = GuestLayout::kMmioGapStart;
inline constexpr uint64_t kMmioGapEnd = GuestLayout::kHighStart;
inline constexpr uint64_t kIoapicAddr = 0xFEC00000;
inline constexpr uint64_t kLapicAddr = 0xFEE00000;

// RAM above the gap starts here when the guest has more than 3 GiB.
inline constexpr uint64_t kHighRamStart = GuestLayout::kHighStart;

// Smallest guest the boot path accepts: everything below 1 MiB plus 1 MiB of kernel.
inline constexpr uint64_t kMinRamSize = 2 * kMiB;

static_assert(kTssAddr + kTssLimit < kPvhStartInfoAddr);
static_assert(kPdAddr + kPdCount * kPageSize <= kCmdlineAddr);
static_assert(kCmdlineAddr + kCmdlineMaxSize <= kEbdaStart);
static_assert(kAcpiRsdpAddr % 16 == 0 && kAcpiAreaStart >= kBiosAreaStart);
static_assert(kAcpiAreaEnd <= kMpTableAddr && kMpTableAddr < kBiosAreaEnd);
static_assert(kIoapicAddr >= kMmioGapStart && kLapicAddr < kMmioGapEnd);

} // namespace brood::x86
