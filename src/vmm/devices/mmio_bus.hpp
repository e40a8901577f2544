// Memory-mapped I/O dispatch: devices claim guest-physical ranges in the
// 32-bit MMIO gap (below 4 GiB, above guest RAM); unclaimed reads see 0xff.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.hpp"

namespace brood::devices {

class MmioDevice {
public:
    virtual ~MmioDevice() = default;
    // `offset` is from the start of the device's range; an access never
    // crosses its end.
    virtual void mmio_read(uint64_t offset, std::span<uint8_t> data) = 0;
    virtual void mmio_write(uint64_t offset, std::span<const uint8_t> data) = 0;
};

class MmioBus final {
public:
    // Ranges must lie inside the MMIO gap and not overlap one another.
    Result<void> add(uint64_t base, uint64_t length, MmioDevice* device);
    // Returns false when no device claims the whole access (it is ignored).
    bool read(uint64_t address, std::span<uint8_t> data);
    bool write(uint64_t address, std::span<const uint8_t> data);

private:
    struct Range {
        uint64_t base, length;
        MmioDevice* device;
    };
    const Range* find(uint64_t address, uint64_t size) const;
    std::vector<Range> _ranges; // fixed after set-up; devices lock themselves
};

} // namespace brood::devices
