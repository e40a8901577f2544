// The PVH boot ABI (Xen's "HVM direct boot", also used by KVM VMMs): a
// kernel advertises a 32-bit entry in an ELF note and is entered with EBX
// pointing at a start_info structure. Definitions written from the ABI text
// (Xen public/arch-x86/hvm/start_info.h documents the layout).
#pragma once

#include <cstdint>

namespace brood::loader::pvh {

inline constexpr char kNoteOwner[] = "Xen";         // ELF note name, NUL included
inline constexpr uint32_t kNotePhys32Entry = 18;     // XEN_ELFNOTE_PHYS32_ENTRY
inline constexpr uint32_t kStartInfoMagic = 0x336EC578;
inline constexpr uint32_t kStartInfoVersion = 1;     // 1: has the memory map fields

struct StartInfo {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;   // version 1
    uint32_t memmap_entries; // version 1
    uint32_t reserved;
};
static_assert(sizeof(StartInfo) == 56);

struct ModlistEntry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};
static_assert(sizeof(ModlistEntry) == 32);

// Types are the E820 ones (1 = RAM, 2 = reserved).
struct MemmapEntry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};
static_assert(sizeof(MemmapEntry) == 24);

} // namespace brood::loader::pvh
