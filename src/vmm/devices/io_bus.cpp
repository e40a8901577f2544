#include "vmm/devices/io_bus.hpp"

#include <algorithm>

namespace brood::devices {

void IoBus::add(uint16_t base, uint16_t length, PioDevice* device) {
    _ranges.push_back({base, length, device});
}

const IoBus::Range* IoBus::find(uint16_t port) const {
    for (const auto& r : _ranges)
        if (port >= r.base && port - r.base < r.length) return &r;
    return nullptr;
}

bool IoBus::read(uint16_t port, std::span<uint8_t> data) {
    const Range* r = find(port);
    if (!r) {
        std::fill(data.begin(), data.end(), uint8_t{0xff});
        return false;
    }
    r->device->pio_read(static_cast<uint16_t>(port - r->base), data);
    return true;
}

bool IoBus::write(uint16_t port, std::span<const uint8_t> data) {
    const Range* r = find(port);
    if (!r) return false;
    r->device->pio_write(static_cast<uint16_t>(port - r->base), data);
    return true;
}

} // namespace brood::devices
