#include "test_images.hpp"

#include <elf.h>

#include <algorithm>

namespace brood::test {

std::vector<uint8_t> pattern(size_t size, uint8_t seed) {
    std::vector<uint8_t> bytes(size);
    for (size_t i = 0; i < size; i++) bytes[i] = static_cast<uint8_t>(i * 7 + seed);
    return bytes;
}

std::vector<uint8_t> make_bzimage(const BzImageSpec& spec) {
    const size_t setup_size = (size_t{spec.setup_sects ? spec.setup_sects : 4u} + 1) * 512;
    std::vector<uint8_t> image(setup_size, 0);
    put<uint8_t>(image, 0x1F1, spec.setup_sects);
    put<uint16_t>(image, 0x1FC, spec.root_dev);
    put<uint16_t>(image, 0x1FE, 0xAA55);
    put<uint8_t>(image, 0x200, 0xEB);                          // jmp short
    put<uint8_t>(image, 0x201, 0x26C - 0x202);                 // header ends at 0x26C
    put<uint32_t>(image, 0x202, 0x53726448);                   // "HdrS"
    put<uint16_t>(image, 0x206, spec.version);
    put<uint8_t>(image, 0x211, spec.loadflags);
    put<uint32_t>(image, 0x214, 0x100000);                     // code32_start
    put<uint32_t>(image, 0x22C, spec.initrd_addr_max);
    put<uint32_t>(image, 0x230, spec.kernel_alignment);
    put<uint8_t>(image, 0x234, 1);                             // relocatable
    put<uint16_t>(image, 0x236, spec.xloadflags);
    put<uint32_t>(image, 0x238, spec.cmdline_size);
    put<uint64_t>(image, 0x258, spec.pref_address);
    put<uint32_t>(image, 0x260, spec.init_size);
    const auto payload = pattern(spec.payload_size, 0x5A);
    image.insert(image.end(), payload.begin(), payload.end());
    return image;
}

namespace {

void append_note(std::vector<uint8_t>& out, const char* name, uint32_t type,
                 const std::vector<uint8_t>& desc) {
    const uint32_t namesz = static_cast<uint32_t>(std::strlen(name) + 1);
    size_t at = out.size();
    put<uint32_t>(out, at, namesz);
    put<uint32_t>(out, at + 4, static_cast<uint32_t>(desc.size()));
    put<uint32_t>(out, at + 8, type);
    out.insert(out.end(), name, name + namesz);
    out.resize((out.size() + 3) & ~size_t{3});
    out.insert(out.end(), desc.begin(), desc.end());
    out.resize((out.size() + 3) & ~size_t{3});
}

template <typename Ehdr, typename Phdr>
std::vector<uint8_t> build(const ElfSpec& spec, uint16_t default_machine, uint8_t elf_class) {
    std::vector<uint8_t> notes;
    if (spec.other_note_first) append_note(notes, "GNU", 3, {1, 2, 3, 4, 5, 6, 7, 8});
    if (spec.pvh_entry) {
        std::vector<uint8_t> desc(spec.pvh_desc_size, 0);
        std::memcpy(desc.data(), &*spec.pvh_entry, std::min<size_t>(8, desc.size()));
        append_note(notes, "Xen", 18, desc);
    }
    const size_t phnum = spec.segments.size() + (notes.empty() ? 0 : 1);
    std::vector<uint8_t> out(sizeof(Ehdr) + phnum * sizeof(Phdr), 0);

    Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = elf_class;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = spec.type;
    eh.e_machine = spec.machine ? spec.machine : default_machine;
    eh.e_version = EV_CURRENT;
    eh.e_entry = static_cast<decltype(eh.e_entry)>(spec.entry);
    eh.e_phoff = sizeof(Ehdr);
    eh.e_ehsize = sizeof(Ehdr);
    eh.e_phentsize = sizeof(Phdr);
    eh.e_phnum = static_cast<uint16_t>(phnum);
    std::memcpy(out.data(), &eh, sizeof(eh));

    size_t ph_at = sizeof(Ehdr);
    auto add_phdr = [&](uint32_t type, const std::vector<uint8_t>& data, uint64_t paddr,
                        uint64_t memsz, uint64_t align) {
        Phdr ph{};
        ph.p_type = type;
        ph.p_offset = static_cast<decltype(ph.p_offset)>(out.size());
        ph.p_paddr = static_cast<decltype(ph.p_paddr)>(paddr);
        ph.p_vaddr = ph.p_paddr;
        ph.p_filesz = static_cast<decltype(ph.p_filesz)>(data.size());
        ph.p_memsz = static_cast<decltype(ph.p_memsz)>(memsz);
        ph.p_flags = PF_R;
        ph.p_align = static_cast<decltype(ph.p_align)>(align);
        std::memcpy(out.data() + ph_at, &ph, sizeof(ph));
        ph_at += sizeof(Phdr);
        out.insert(out.end(), data.begin(), data.end());
    };
    if (!notes.empty()) add_phdr(PT_NOTE, notes, 0, 0, 4);
    for (const auto& seg : spec.segments)
        add_phdr(PT_LOAD, seg.data, seg.paddr, std::max<uint64_t>(seg.memsz, seg.data.size()), 0x1000);
    return out;
}

} // namespace

std::vector<uint8_t> make_elf(const ElfSpec& spec) {
    if (spec.elf32) return build<Elf32_Ehdr, Elf32_Phdr>(spec, EM_386, ELFCLASS32);
    return build<Elf64_Ehdr, Elf64_Phdr>(spec, EM_X86_64, ELFCLASS64);
}

ElfSpec small_pvh_kernel() {
    ElfSpec spec;
    spec.entry = 0x100000;
    spec.pvh_entry = 0x100040;
    spec.segments.push_back({0x100000, pattern(8192, 1), 8192});
    spec.segments.push_back({0x103000, pattern(1000, 2), 0x3000}); // 0x2C18 bytes of bss
    return spec;
}

} // namespace brood::test
