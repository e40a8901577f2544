#include "vmm/arch/x86_64/e820.hpp"

#include <algorithm>

#include "vmm/arch/x86_64/layout.hpp"

namespace brood::x86 {

namespace {

// Appends [start, end) clipped to `limit`, if anything is left of it.
void add_clipped(std::vector<E820Entry>& map, uint64_t start, uint64_t end, uint64_t limit,
                 E820Type type) {
    end = std::min(end, limit);
    if (start < end) map.push_back({start, end - start, type});
}

} // namespace

std::vector<E820Entry> build_e820(const GuestLayout& layout) {
    std::vector<E820Entry> map;
    const uint64_t low_end = layout.low_ram_end();
    add_clipped(map, 0, kEbdaStart, low_end, E820Type::Ram);
    add_clipped(map, kEbdaStart, kEbdaEnd, low_end, E820Type::Reserved);
    add_clipped(map, kBiosAreaStart, kBiosAreaEnd, low_end, E820Type::Reserved);
    add_clipped(map, kKernelLoadAddr, low_end, low_end, E820Type::Ram);
    for (const auto& region : layout.regions()) {
        if (region.guest_addr >= kHighRamStart)
            map.push_back({region.guest_addr, region.size, E820Type::Ram});
    }
    return map;
}

} // namespace brood::x86
