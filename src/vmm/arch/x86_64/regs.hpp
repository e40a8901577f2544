// Register state of the boot vCPU at its first instruction, and the LAPIC
// local-interrupt wiring a PC BIOS leaves behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "vmm/arch/x86_64/cpu_state.hpp"

namespace brood::x86 {

inline constexpr uint64_t kCr0Pe = 1u << 0, kCr0Et = 1u << 4, kCr0Ne = 1u << 5;
inline constexpr uint64_t kCr0Pg = 1u << 31;
inline constexpr uint64_t kCr4Pae = 1u << 5;
inline constexpr uint64_t kEferLme = 1u << 8, kEferLma = 1u << 10;
inline constexpr uint64_t kApicBaseBsp = 1u << 8, kApicBaseEnable = 1u << 11;

// Linux 64-bit boot protocol entry: long mode with the boot GDT (CS 0x10,
// DS/ES/FS/GS/SS 0x18) and the identity page tables (CR3 = PML4), interrupts
// off, RIP = entry, RSI = zero page, RSP = boot stack.
// Needs write_boot_gdt_and_page_tables() to have run.
BootCpuState linux64_boot_state(uint64_t entry, uint64_t zero_page);

// PVH entry: 32-bit protected mode, paging off, flat 4 GiB CS (0x08) and data
// segments (0x18), CR0 = PE|ET, EBX = start_info, RIP = entry32.
// Needs write_boot_gdt_and_page_tables() to have run.
BootCpuState pvh_boot_state(uint32_t entry32, uint32_t start_info);

// LVT LINT0 = ExtINT (the 8259 PIC) and LINT1 = NMI, in a KVM_GET_LAPIC
// register page; the other bits (mask, trigger) are kept.
void configure_lapic_lints(std::span<uint8_t, 1024> lapic_regs);

inline constexpr size_t kLapicLvtLint0 = 0x350;
inline constexpr size_t kLapicLvtLint1 = 0x360;
inline constexpr uint32_t kLvtDeliveryModeMask = 0x700;
inline constexpr uint32_t kLvtDeliveryNmi = 0x400;
inline constexpr uint32_t kLvtDeliveryExtInt = 0x700;

} // namespace brood::x86
