// Linux bzImage, booted through its 64-bit entry point (boot protocol 2.12+):
// the protected-mode part goes to 1 MiB, the real-mode setup code is not run;
// the zero page starts as a copy of the image's setup header.
#include "vmm/loader/formats.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/arch/x86_64/regs.hpp"
#include "vmm/loader/boot_params.hpp"
#include "vmm/loader/placement.hpp"

namespace brood::loader {

namespace {

using namespace linux_boot;

uint64_t align_up(uint64_t v, uint64_t a) { return a ? (v + a - 1) / a * a : v; }

// Where the decompressor may write: a relocatable kernel moves itself to the
// load address aligned up to kernel_alignment, but never below its
// preferred address (LOAD_PHYSICAL_ADDR), and needs init_size bytes there.
uint64_t kernel_footprint_end(const SetupHeader& hdr, uint64_t load_addr, uint64_t pm_size) {
    uint64_t alignment = hdr.kernel_alignment;
    if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > x86::kGiB)
        alignment = 2 * x86::kMiB;
    // A copy: std::min takes references, and SetupHeader is packed (an
    // unaligned reference is undefined behaviour).
    const uint64_t pref_address = hdr.pref_address;
    const uint64_t pref = std::min<uint64_t>(pref_address, uint64_t{1} << 48); // no overflow
    const uint64_t target = std::max(align_up(load_addr, alignment), pref);
    return std::max(load_addr + pm_size, target + hdr.init_size);
}

} // namespace

bool looks_like_bzimage(std::span<const uint8_t> image) {
    uint32_t magic = 0;
    if (image.size() < kHeaderMagicOffset + sizeof(magic)) return false;
    std::memcpy(&magic, image.data() + kHeaderMagicOffset, sizeof(magic));
    return magic == kHeaderMagic;
}

Result<KernelEntry> load_bzimage(const KernelImage& image, const BootParams& p, GuestMemory& mem) {
    if (image.size() < kSetupHeaderMinEnd)
        return fail(fmt::format("bzImage setup header is truncated ({} bytes)", image.size()));
    const auto head = TRY(image.copy(0, std::min<uint64_t>(image.size(), kSetupHeaderMaxEnd)));
    SetupHeader hdr{};
    std::memcpy(&hdr, head.data() + kSetupHeaderOffset, std::min(sizeof(hdr), head.size() - kSetupHeaderOffset));
    if (hdr.version < kMinVersion)
        return fail(fmt::format("bzImage uses boot protocol {}.{:02}; brood needs 2.12 or newer",
                                hdr.version >> 8, hdr.version & 0xFF));
    if (!(hdr.loadflags & kLoadedHigh))
        return fail("kernel image is a zImage (not loaded high); only bzImage is supported");
    if (!(hdr.xloadflags & kXlfKernel64))
        return fail("bzImage has no 64-bit entry point (XLF_KERNEL_64 is not set)");

    const uint64_t setup_sects = hdr.setup_sects ? hdr.setup_sects : kDefaultSetupSects;
    const uint64_t setup_size = (setup_sects + 1) * 512;
    if (setup_size >= image.size())
        return fail(fmt::format("bzImage is truncated: its setup code ends at {:#x}, the file "
                                "has {:#x} bytes",
                                setup_size, image.size()));
    const uint64_t protected_mode_size = image.size() - setup_size;

    KernelEntry entry;
    entry.format = KernelFormat::BzImage;
    entry.protocol = BootProtocol::Linux64;
    entry.kernel_start = x86::kKernelLoadAddr;
    entry.kernel_end = kernel_footprint_end(hdr, x86::kKernelLoadAddr, protected_mode_size);
    if (entry.kernel_end > mem.layout().low_ram_end())
        return fail(fmt::format("guest memory ({} MiB) is too small for this kernel, which needs "
                                "{} MiB to decompress",
                                mem.size() / x86::kMiB,
                                (entry.kernel_end + x86::kMiB - 1) / x86::kMiB));
    // Straight from the image into guest memory.
    auto protected_mode = TRY_CTX(mem.span(x86::kKernelLoadAddr, protected_mode_size), "load the bzImage");
    TRY_CTX(image.read(setup_size, protected_mode), "load the bzImage");

    const uint64_t initrd_max = hdr.initrd_addr_max ? hdr.initrd_addr_max : kDefaultInitrdAddrMax;
    InitrdPlacement initrd;
    TRY(place_cmdline_and_initrd(mem, p, hdr.cmdline_size, initrd_max, entry, initrd));

    // The zero page starts with the header exactly as the image has it, as
    // far as the image says the header goes (the byte after "jmp" at 0x200).
    ZeroPage zp{};
    const uint64_t header_end =
        std::min<uint64_t>({kHeaderMagicOffset + head[kHeaderMagicOffset - 1], kSetupHeaderMaxEnd, head.size()});
    std::memcpy(reinterpret_cast<uint8_t*>(&zp) + kSetupHeaderOffset, head.data() + kSetupHeaderOffset,
                header_end - kSetupHeaderOffset);
    TRY(write_zero_page(mem, zp, initrd, p.acpi_rsdp_addr));

    entry.entry = x86::kKernelLoadAddr + kEntry64Offset;
    entry.boot_info = x86::kZeroPageAddr;
    entry.cpu = x86::linux64_boot_state(entry.entry, x86::kZeroPageAddr);
    return entry;
}

} // namespace brood::loader
