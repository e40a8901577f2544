// Kernel loading: puts a kernel (ELF with or without a PVH note, or a Linux
// bzImage), its command line and initrd into guest memory and says how the
// boot vCPU must start. docs/boot.md describes both boot paths.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "vmm/arch/x86_64/acpi.hpp"
#include "vmm/arch/x86_64/cpu_state.hpp"
#include "vmm/loader/kernel_image.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace brood::loader {

struct BootParams {
    std::string cmdline;
    std::optional<std::span<const uint8_t>> initrd; // file contents, if any
    uint32_t vcpu_count = 1;
    // The virtio-mmio devices the DSDT declares.
    std::vector<x86::MmioDevice> mmio_devices = {};
    // Guest-physical address of the ACPI RSDP, handed to the kernel (PVH
    // rsdp_paddr, zero page acpi_rsdp_addr); 0: none. prepare_boot sets it.
    uint64_t acpi_rsdp_addr = 0;
};

enum class BootProtocol {
    Linux64, // Linux 64-bit boot protocol: long mode, RSI = zero page
    Pvh,     // PVH: 32-bit protected mode, EBX = hvm_start_info
};

enum class KernelFormat { Elf, BzImage };

struct KernelEntry {
    BootProtocol protocol = BootProtocol::Linux64;
    KernelFormat format = KernelFormat::Elf;
    x86::BootCpuState cpu;       // the boot vCPU's registers
    uint64_t entry = 0;          // first instruction (guest-physical)
    uint64_t kernel_start = 0;   // guest-physical range the kernel owns,
    uint64_t kernel_end = 0;     // including room to decompress a bzImage
    uint64_t boot_info = 0;      // zero page or hvm_start_info
    uint64_t initrd_addr = 0;    // 0 without an initrd
    uint64_t initrd_size = 0;
};

const char* to_string(BootProtocol protocol);
const char* to_string(KernelFormat format);

// Detects the image format by magic, loads it, writes the command line, the
// initrd and the zero page or PVH start_info. Every malformed input is an
// error naming the problem; nothing in `image` is trusted.
Result<KernelEntry> load_kernel(const KernelImage& image, const BootParams& p, GuestMemory& mem);
inline Result<KernelEntry> load_kernel(std::span<const uint8_t> image, const BootParams& p, GuestMemory& mem) {
    return load_kernel(KernelImage::of(image), p, mem);
}

// Everything a cold boot writes into guest memory, in one call: MP table and
// ACPI tables for p.vcpu_count vCPUs, boot GDT, TSS and page tables, then
// load_kernel() with acpi_rsdp_addr pointing at the tables.
// Returns the boot vCPU's state; `details`, if given, receives the rest.
Result<x86::BootCpuState> prepare_boot(const KernelImage& image, const BootParams& p, GuestMemory& mem,
                                       KernelEntry* details = nullptr);
inline Result<x86::BootCpuState> prepare_boot(std::span<const uint8_t> image, const BootParams& p, GuestMemory& mem,
                                              KernelEntry* details = nullptr) {
    return prepare_boot(KernelImage::of(image), p, mem, details);
}

} // namespace brood::loader
