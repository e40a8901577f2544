// Port I/O dispatch: devices claim port ranges; unclaimed reads see 0xff.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace brood::devices {

// Ports a device answers: each device declares its own, as kPorts.
struct PortRange {
    uint16_t base, length;
};

class PioDevice {
public:
    virtual ~PioDevice() = default;
    virtual void pio_read(uint16_t offset, std::span<uint8_t> data) = 0;
    virtual void pio_write(uint16_t offset, std::span<const uint8_t> data) = 0;
};

// One interrupt line of the in-kernel irqchip, as a device sees it.
using IrqLine = std::function<void(bool level)>;

// What the guest asked the machine to do.
enum class GuestRequest { power_off, reset };
using GuestRequestSink = std::function<void(GuestRequest)>;

class IoBus final {
public:
    void add(uint16_t base, uint16_t length, PioDevice* device);
    // Returns false when no device claims the port (the access is ignored).
    bool read(uint16_t port, std::span<uint8_t> data);
    bool write(uint16_t port, std::span<const uint8_t> data);

private:
    struct Range {
        uint16_t base, length;
        PioDevice* device;
    };
    const Range* find(uint16_t port) const;
    std::vector<Range> _ranges; // fixed after set-up; devices lock themselves
};

} // namespace brood::devices
