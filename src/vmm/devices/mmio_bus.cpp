#include "vmm/devices/mmio_bus.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "vmm/memory/guest_memory.hpp"

namespace brood::devices {

Result<void> MmioBus::add(uint64_t base, uint64_t length, MmioDevice* device) {
    if (length == 0 || base < GuestLayout::kMmioGapStart || base > GuestLayout::kHighStart - length)
        return fail(fmt::format("MMIO range {:#x}+{:#x} is outside the MMIO gap", base, length));
    for (const auto& r : _ranges)
        if (base < r.base + r.length && r.base < base + length)
            return fail(fmt::format("MMIO range {:#x}+{:#x} overlaps {:#x}+{:#x}", base, length, r.base, r.length));
    _ranges.push_back({base, length, device});
    return {};
}

const MmioBus::Range* MmioBus::find(uint64_t address, uint64_t size) const {
    for (const auto& r : _ranges)
        if (address >= r.base && address - r.base < r.length && size <= r.length - (address - r.base)) return &r;
    return nullptr;
}

bool MmioBus::read(uint64_t address, std::span<uint8_t> data) {
    const Range* r = find(address, data.size());
    if (!r) {
        std::fill(data.begin(), data.end(), uint8_t{0xff});
        return false;
    }
    r->device->mmio_read(address - r->base, data);
    return true;
}

bool MmioBus::write(uint64_t address, std::span<const uint8_t> data) {
    const Range* r = find(address, data.size());
    if (!r) return false;
    r->device->mmio_write(address - r->base, data);
    return true;
}

} // namespace brood::devices
