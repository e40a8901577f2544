// Pieces both boot protocols share: the command line, the initrd, the Linux
// zero page fields that do not come from a bzImage, the PVH start_info.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "common/result.hpp"
#include "vmm/loader/boot_params.hpp"
#include "vmm/loader/loader.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace brood::loader {

// Writes the NUL-terminated command line at kCmdlineAddr; `max_len` is the
// longest the kernel accepts, without the NUL.
Result<void> write_cmdline(GuestMemory& mem, std::string_view cmdline, uint64_t max_len);

struct InitrdPlacement {
    uint64_t addr = 0;
    uint64_t size = 0;
};

// Copies the initrd to the highest page-aligned address where it ends below
// both `max_addr` (the last byte it may occupy) and the end of low RAM, and
// starts at or above `kernel_end`.
Result<InitrdPlacement> place_initrd(GuestMemory& mem, std::span<const uint8_t> initrd,
                                     uint64_t kernel_end, uint64_t max_addr);

// Fills the loader-owned zero page fields (loader type, heap, command line,
// initrd, E820 map, video mode, and the ACPI RSDP when `acpi_rsdp_addr` is
// not 0 and the header's protocol version is 2.14 or newer) and writes the
// page at kZeroPageAddr.
Result<void> write_zero_page(GuestMemory& mem, linux_boot::ZeroPage& zero_page,
                             const InitrdPlacement& initrd, uint64_t acpi_rsdp_addr);

// Writes hvm_start_info (rsdp_paddr = `acpi_rsdp_addr`), its module list (the
// initrd, if any) and memory map.
Result<void> write_pvh_start_info(GuestMemory& mem, const InitrdPlacement& initrd,
                                  uint64_t acpi_rsdp_addr);

// Validates the command line and initrd, writes them, and records where they went.
Result<void> place_cmdline_and_initrd(GuestMemory& mem, const BootParams& p,
                                      uint64_t cmdline_max_len, uint64_t initrd_max_addr,
                                      KernelEntry& entry, InitrdPlacement& initrd);

} // namespace brood::loader
