// The BIOS E820 memory map for a guest, shared by the Linux zero page and the
// PVH memory map (both use the same entry types).
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/memory/guest_memory.hpp"

namespace brood::x86 {

enum class E820Type : uint32_t {
    Ram = 1,
    Reserved = 2,
};

struct E820Entry {
    uint64_t addr = 0;
    uint64_t size = 0;
    E820Type type = E820Type::Ram;

    bool operator==(const E820Entry&) const = default;
};

// RAM [0, 0x9FC00), reserved EBDA [0x9FC00, 0xA0000), reserved BIOS area
// [0xF0000, 0x100000) (the MP table), RAM [1 MiB, low_ram_end), and RAM from
// 4 GiB when the guest has more than 3 GiB. Ranges the guest has no RAM for
// are left out. Sorted by address, never overlapping.
std::vector<E820Entry> build_e820(const GuestLayout& layout);

} // namespace brood::x86
