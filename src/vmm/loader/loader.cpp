#include "vmm/loader/loader.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "vmm/arch/x86_64/acpi.hpp"
#include "vmm/arch/x86_64/gdt.hpp"
#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/arch/x86_64/mptable.hpp"
#include "vmm/loader/formats.hpp"

namespace brood::loader {

const char* to_string(BootProtocol protocol) {
    return protocol == BootProtocol::Pvh ? "pvh" : "linux64";
}

const char* to_string(KernelFormat format) {
    return format == KernelFormat::BzImage ? "bzImage" : "elf";
}

namespace {

constexpr uint64_t kMagicBytes = 0x210;

Result<void> check_min_ram(const GuestMemory& mem) {
    if (mem.layout().low_ram_end() < x86::kMinRamSize)
        return fail(fmt::format("guest memory ({} KiB) is too small to boot; brood needs at least "
                                "{} MiB",
                                mem.size() / x86::kKiB, x86::kMinRamSize / x86::kMiB));
    return {};
}

} // namespace

bool looks_like_elf(std::span<const uint8_t> image) {
    return image.size() >= 4 && std::memcmp(image.data(), "\x7f" "ELF", 4) == 0;
}

Result<KernelEntry> load_kernel(const KernelImage& image, const BootParams& p, GuestMemory& mem) {
    if (image.size() == 0) return fail("kernel image is empty");
    TRY(check_min_ram(mem));
    // Enough to tell the formats apart: the ELF magic, the bzImage's "HdrS".
    const auto head = TRY(image.copy(0, std::min<uint64_t>(image.size(), kMagicBytes)));
    if (looks_like_elf(head)) return load_elf(image, p, mem);
    if (looks_like_bzimage(head)) return load_bzimage(image, p, mem);
    return fail("kernel image is neither an ELF nor a bzImage");
}

Result<x86::BootCpuState> prepare_boot(const KernelImage& image, const BootParams& p, GuestMemory& mem,
                                       KernelEntry* details) {
    TRY(check_min_ram(mem));
    TRY(x86::write_mptable(mem, p.vcpu_count));
    BootParams with_acpi = p;
    with_acpi.acpi_rsdp_addr = TRY(x86::write_acpi_tables(mem, p.vcpu_count, p.mmio_devices));
    TRY(x86::write_boot_gdt_and_page_tables(mem));
    KernelEntry entry = TRY(load_kernel(image, with_acpi, mem));
    if (details) *details = entry;
    return entry.cpu;
}

} // namespace brood::loader
