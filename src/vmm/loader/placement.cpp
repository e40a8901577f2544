#include "vmm/loader/placement.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "vmm/arch/x86_64/e820.hpp"
#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/loader/pvh.hpp"

namespace brood::loader {

namespace {

uint64_t mib_rounded_up(uint64_t bytes) { return (bytes + x86::kMiB - 1) / x86::kMiB; }

uint32_t low32(uint64_t v) { return static_cast<uint32_t>(v); }
uint32_t high32(uint64_t v) { return static_cast<uint32_t>(v >> 32); }

} // namespace

Result<void> write_cmdline(GuestMemory& mem, std::string_view cmdline, uint64_t max_len) {
    max_len = std::min(max_len, x86::kCmdlineMaxSize - 1);
    if (cmdline.size() > max_len)
        return fail(fmt::format("kernel command line is {} bytes long; this kernel accepts at most {}",
                                cmdline.size(), max_len));
    if (cmdline.find('\0') != std::string_view::npos)
        return fail("kernel command line contains a NUL byte");
    auto dst = TRY_CTX(mem.span(x86::kCmdlineAddr, cmdline.size() + 1), "write the command line");
    std::memcpy(dst.data(), cmdline.data(), cmdline.size());
    dst[cmdline.size()] = 0;
    return {};
}

Result<InitrdPlacement> place_initrd(GuestMemory& mem, std::span<const uint8_t> initrd,
                                     uint64_t kernel_end, uint64_t max_addr) {
    if (initrd.empty()) return fail("initrd is empty");
    const uint64_t size = initrd.size();
    const uint64_t limit = std::min(max_addr == UINT64_MAX ? max_addr : max_addr + 1,
                                    mem.layout().low_ram_end());
    const uint64_t lowest = (kernel_end + x86::kPageSize - 1) & ~(x86::kPageSize - 1);
    if (size > limit || ((limit - size) & ~(x86::kPageSize - 1)) < lowest)
        return fail(fmt::format(
            "initrd ({} MiB) does not fit in guest memory: {} MiB are free between the "
            "kernel's end at {:#x} and {:#x}",
            mib_rounded_up(size), limit > lowest ? (limit - lowest) / x86::kMiB : 0, lowest, limit));
    const uint64_t addr = (limit - size) & ~(x86::kPageSize - 1);
    TRY_CTX(mem.write(addr, initrd), "write the initrd");
    return InitrdPlacement{addr, size};
}

Result<void> write_zero_page(GuestMemory& mem, linux_boot::ZeroPage& zp,
                             const InitrdPlacement& initrd, uint64_t acpi_rsdp_addr) {
    auto& hdr = zp.hdr;
    hdr.type_of_loader = linux_boot::kLoaderUndefined;
    hdr.loadflags = static_cast<uint8_t>(hdr.loadflags | linux_boot::kCanUseHeap);
    hdr.heap_end_ptr = linux_boot::kHeapEndPtr;
    hdr.vid_mode = linux_boot::kVidModeNormal;
    hdr.cmd_line_ptr = low32(x86::kCmdlineAddr);
    zp.ext_cmd_line_ptr = high32(x86::kCmdlineAddr);
    hdr.ramdisk_image = low32(initrd.addr);
    zp.ext_ramdisk_image = high32(initrd.addr);
    hdr.ramdisk_size = low32(initrd.size);
    zp.ext_ramdisk_size = high32(initrd.size);
    // Older kernels treat 0x070 as padding; they scan the BIOS area instead.
    if (hdr.version >= linux_boot::kAcpiRsdpMinVersion) zp.acpi_rsdp_addr = acpi_rsdp_addr;

    const auto map = x86::build_e820(mem.layout());
    if (map.size() > linux_boot::kE820MaxEntries)
        return fail(fmt::format("the E820 map has {} entries, the zero page holds {}", map.size(),
                                linux_boot::kE820MaxEntries));
    for (size_t i = 0; i < map.size(); i++) {
        zp.e820_table[i].addr = map[i].addr;
        zp.e820_table[i].size = map[i].size;
        zp.e820_table[i].type = static_cast<uint32_t>(map[i].type);
    }
    zp.e820_entries = static_cast<uint8_t>(map.size());
    zp.sentinel = 0;
    TRY_CTX(mem.write_obj(x86::kZeroPageAddr, zp), "write the zero page");
    return {};
}

Result<void> write_pvh_start_info(GuestMemory& mem, const InitrdPlacement& initrd,
                                  uint64_t acpi_rsdp_addr) {
    const auto map = x86::build_e820(mem.layout());
    std::vector<pvh::MemmapEntry> memmap;
    for (const auto& e : map) memmap.push_back({e.addr, e.size, static_cast<uint32_t>(e.type), 0});
    const uint64_t memmap_bytes = memmap.size() * sizeof(pvh::MemmapEntry);
    if (x86::kPvhMemmapAddr + memmap_bytes > x86::kPvhMemmapEnd)
        return fail(fmt::format("the PVH memory map has too many entries ({})", memmap.size()));

    pvh::StartInfo info{};
    info.magic = pvh::kStartInfoMagic;
    info.version = pvh::kStartInfoVersion;
    info.cmdline_paddr = x86::kCmdlineAddr;
    info.rsdp_paddr = acpi_rsdp_addr; // 0 without ACPI tables
    info.memmap_paddr = x86::kPvhMemmapAddr;
    info.memmap_entries = static_cast<uint32_t>(memmap.size());
    if (initrd.size != 0) {
        info.nr_modules = 1;
        info.modlist_paddr = x86::kPvhModlistAddr;
        const pvh::ModlistEntry module{initrd.addr, initrd.size, 0, 0};
        TRY_CTX(mem.write_obj(x86::kPvhModlistAddr, module), "write the PVH module list");
    }
    TRY_CTX(mem.write(x86::kPvhMemmapAddr,
                      std::span(reinterpret_cast<const uint8_t*>(memmap.data()), memmap_bytes)),
            "write the PVH memory map");
    TRY_CTX(mem.write_obj(x86::kPvhStartInfoAddr, info), "write the PVH start_info");
    return {};
}

Result<void> place_cmdline_and_initrd(GuestMemory& mem, const BootParams& p,
                                      uint64_t cmdline_max_len, uint64_t initrd_max_addr,
                                      KernelEntry& entry, InitrdPlacement& initrd) {
    TRY(write_cmdline(mem, p.cmdline, cmdline_max_len));
    if (p.initrd) {
        initrd = TRY(place_initrd(mem, *p.initrd, entry.kernel_end, initrd_max_addr));
        entry.initrd_addr = initrd.addr;
        entry.initrd_size = initrd.size;
    }
    return {};
}

} // namespace brood::loader
