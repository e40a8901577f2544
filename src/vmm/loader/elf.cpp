// ELF kernels: ELF64 x86-64 (PVH note, or Linux 64-bit protocol via e_entry)
// and ELF32 i386 (PVH note only). Every offset and size read from the file is
// checked against the file before use; segments are read straight into guest
// memory.
#include "vmm/loader/formats.hpp"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "vmm/arch/x86_64/layout.hpp"
#include "vmm/arch/x86_64/regs.hpp"
#include "vmm/loader/boot_params.hpp"
#include "vmm/loader/placement.hpp"
#include "vmm/loader/pvh.hpp"

namespace brood::loader {

namespace {

struct Elf64Types {
    using Ehdr = Elf64_Ehdr;
    using Phdr = Elf64_Phdr;
    static constexpr uint16_t kMachine = EM_X86_64;
    static constexpr const char* kName = "ELF64";
};
struct Elf32Types {
    using Ehdr = Elf32_Ehdr;
    using Phdr = Elf32_Phdr;
    static constexpr uint16_t kMachine = EM_386;
    static constexpr const char* kName = "ELF32";
};

// [offset, offset + len) lies inside a file of `size` bytes (overflow-safe).
bool in_file(uint64_t offset, uint64_t len, uint64_t size) {
    return offset <= size && len <= size - offset;
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

// A kernel's notes take a few hundred bytes; more is not a kernel.
constexpr uint64_t kMaxNoteSegment = 1 << 20;

template <typename T>
std::span<uint8_t> bytes_of(T& value) {
    return {reinterpret_cast<uint8_t*>(&value), sizeof(T)};
}

template <typename T>
T read_at(std::span<const uint8_t> bytes, uint64_t offset) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
    return value;
}

// The PVH entry from the Xen PHYS32_ENTRY note in one PT_NOTE segment.
Result<std::optional<uint64_t>> pvh_entry_in_notes(std::span<const uint8_t> notes, uint64_t align) {
    uint64_t pos = 0;
    while (notes.size() - pos >= 12) {
        const auto namesz = read_at<uint32_t>(notes, pos);
        const auto descsz = read_at<uint32_t>(notes, pos + 4);
        const auto type = read_at<uint32_t>(notes, pos + 8);
        const uint64_t name_at = pos + 12;
        const uint64_t desc_at = name_at + align_up(namesz, align);
        if (!in_file(name_at, namesz, notes.size()) || !in_file(desc_at, descsz, notes.size()))
            return fail("ELF note is truncated");
        const bool xen = namesz == sizeof(pvh::kNoteOwner) &&
                         std::memcmp(notes.data() + name_at, pvh::kNoteOwner, namesz) == 0;
        if (xen && type == pvh::kNotePhys32Entry) {
            if (descsz == 4) return std::optional<uint64_t>(read_at<uint32_t>(notes, desc_at));
            if (descsz == 8) return std::optional<uint64_t>(read_at<uint64_t>(notes, desc_at));
            return fail(fmt::format("PVH entry note has {} bytes of data, expected 4 or 8", descsz));
        }
        pos = std::min<uint64_t>(desc_at + align_up(descsz, align), notes.size());
    }
    return std::optional<uint64_t>();
}

template <typename Types>
Result<KernelEntry> load_elf_as(const KernelImage& image, const BootParams& p, GuestMemory& mem) {
    using Ehdr = typename Types::Ehdr;
    using Phdr = typename Types::Phdr;
    if (image.size() < sizeof(Ehdr))
        return fail(fmt::format("{} header is truncated ({} bytes)", Types::kName, image.size()));
    Ehdr eh{};
    TRY(image.read(0, bytes_of(eh)));
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB) return fail("ELF kernel is not little-endian");
    if (eh.e_machine != Types::kMachine)
        return fail(fmt::format("{} kernel is for machine type {}, not x86", Types::kName,
                                eh.e_machine));
    if (eh.e_type != ET_EXEC)
        return fail(fmt::format("ELF kernel is not an executable (e_type {})", eh.e_type));
    if (eh.e_phnum == 0) return fail("ELF kernel has no program headers");
    if (eh.e_phentsize != sizeof(Phdr))
        return fail(fmt::format("ELF program header size is {}, expected {}", eh.e_phentsize,
                                sizeof(Phdr)));
    if (!in_file(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Phdr), image.size()))
        return fail("ELF program headers are truncated");

    std::vector<Phdr> phdrs(eh.e_phnum);
    TRY(image.read(eh.e_phoff, std::span(reinterpret_cast<uint8_t*>(phdrs.data()), phdrs.size() * sizeof(Phdr))));

    // Validate every segment before writing any.
    KernelEntry entry;
    entry.format = KernelFormat::Elf;
    entry.kernel_start = UINT64_MAX;
    std::optional<uint64_t> pvh_entry;
    for (size_t i = 0; i < phdrs.size(); i++) {
        const Phdr& ph = phdrs[i];
        if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE) continue;
        if (!in_file(ph.p_offset, ph.p_filesz, image.size()))
            return fail(fmt::format("ELF segment {} is truncated: it needs file bytes up to {:#x}, "
                                    "the file has {:#x}",
                                    i, uint64_t{ph.p_offset} + ph.p_filesz, image.size()));
        if (ph.p_type == PT_NOTE) {
            if (pvh_entry) continue;
            if (ph.p_filesz > kMaxNoteSegment)
                return fail(fmt::format("ELF note segment {} has {:#x} bytes; a kernel's notes fit in {:#x}", i,
                                        ph.p_filesz, kMaxNoteSegment));
            auto notes = TRY(image.copy(ph.p_offset, ph.p_filesz));
            pvh_entry = TRY(pvh_entry_in_notes(notes, ph.p_align == 8 ? 8 : 4));
            continue;
        }
        if (ph.p_memsz == 0) continue;
        if (ph.p_filesz > ph.p_memsz)
            return fail(fmt::format("ELF segment {} has more file bytes ({:#x}) than memory "
                                    "bytes ({:#x})", i, ph.p_filesz, ph.p_memsz));
        if (ph.p_paddr < x86::kKernelLoadAddr)
            return fail(fmt::format("ELF segment {} at {:#x} is below 1 MiB, where brood keeps its "
                                    "boot structures", i, ph.p_paddr));
        if (!mem.layout().offset_of(ph.p_paddr, ph.p_memsz))
            return fail(fmt::format("ELF segment {} ({:#x}..{:#x}) is outside guest RAM ({} MiB)",
                                    i, ph.p_paddr, uint64_t{ph.p_paddr} + ph.p_memsz,
                                    mem.size() / x86::kMiB));
        entry.kernel_start = std::min<uint64_t>(entry.kernel_start, ph.p_paddr);
        entry.kernel_end = std::max<uint64_t>(entry.kernel_end, uint64_t{ph.p_paddr} + ph.p_memsz);
    }
    if (entry.kernel_end == 0) return fail("ELF kernel has no loadable segments");

    for (const Phdr& ph : phdrs) {
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
        auto dst = TRY_CTX(mem.span(ph.p_paddr, ph.p_memsz), "load an ELF segment");
        TRY_CTX(image.read(ph.p_offset, dst.first(ph.p_filesz)), "load an ELF segment");
        std::memset(dst.data() + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    }

    if (pvh_entry) {
        if (*pvh_entry > UINT32_MAX || !mem.layout().offset_of(*pvh_entry, 1))
            return fail(fmt::format("PVH entry point {:#x} is not in guest RAM", *pvh_entry));
        InitrdPlacement initrd;
        TRY(place_cmdline_and_initrd(mem, p, x86::kCmdlineMaxSize - 1, UINT32_MAX, entry, initrd));
        TRY(write_pvh_start_info(mem, initrd, p.acpi_rsdp_addr));
        entry.protocol = BootProtocol::Pvh;
        entry.entry = *pvh_entry;
        entry.boot_info = x86::kPvhStartInfoAddr;
        entry.cpu = x86::pvh_boot_state(static_cast<uint32_t>(*pvh_entry),
                                        static_cast<uint32_t>(x86::kPvhStartInfoAddr));
        return entry;
    }
    if constexpr (Types::kMachine == EM_386) {
        return fail("32-bit ELF kernel has no PVH entry note (Xen PHYS32_ENTRY); brood boots "
                    "32-bit ELF kernels only through PVH");
    } else {
        if (!mem.layout().offset_of(eh.e_entry, 1) || eh.e_entry < x86::kKernelLoadAddr)
            return fail(fmt::format("ELF entry point {:#x} is not in guest RAM above 1 MiB",
                                    eh.e_entry));
        // A vmlinux without PVH: the Linux 64-bit boot protocol with a zero
        // page built from scratch.
        InitrdPlacement initrd;
        TRY(place_cmdline_and_initrd(mem, p, x86::kCmdlineMaxSize - 1, UINT32_MAX, entry, initrd));
        linux_boot::ZeroPage zp{};
        zp.hdr.boot_flag = linux_boot::kBootFlag;
        zp.hdr.header = linux_boot::kHeaderMagic;
        zp.hdr.version = linux_boot::kMinVersion;
        zp.hdr.loadflags = linux_boot::kLoadedHigh;
        zp.hdr.kernel_alignment = 0x1000000;
        zp.hdr.cmdline_size = static_cast<uint32_t>(x86::kCmdlineMaxSize - 1);
        TRY(write_zero_page(mem, zp, initrd, p.acpi_rsdp_addr));
        entry.protocol = BootProtocol::Linux64;
        entry.entry = eh.e_entry;
        entry.boot_info = x86::kZeroPageAddr;
        entry.cpu = x86::linux64_boot_state(eh.e_entry, x86::kZeroPageAddr);
        return entry;
    }
}

} // namespace

Result<KernelEntry> load_elf(const KernelImage& image, const BootParams& p, GuestMemory& mem) {
    if (image.size() < EI_NIDENT)
        return fail(fmt::format("ELF header is truncated ({} bytes)", image.size()));
    const auto ident = TRY(image.copy(0, EI_NIDENT));
    switch (ident[EI_CLASS]) {
    case ELFCLASS64: return load_elf_as<Elf64Types>(image, p, mem);
    case ELFCLASS32: return load_elf_as<Elf32Types>(image, p, mem);
    default: return fail(fmt::format("ELF kernel has an unknown class {}", ident[EI_CLASS]));
    }
}

} // namespace brood::loader
