// The i8042 keyboard controller, as far as a guest needs it to reset the
// machine (command 0xfe) and to receive Ctrl+Alt+Del for a graceful stop.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <mutex>

#include "vmm/devices/io_bus.hpp"
#include "vmm/snapshot/persist.hpp"

namespace brood::devices {

struct I8042State {
    uint8_t control = 0x01; // keyboard interrupt enabled
    uint8_t pending_command = 0;
    std::deque<uint8_t> output;
};

// The i8042 section of a snapshot.
struct I8042Codec {
    using State = I8042State;
    static constexpr snapshot::SectionKind kind{5, 1, "i8042"};
    static void encode(const State& s, snapshot::ByteWriter& w);
    static Result<State> decode(snapshot::ByteReader& r, uint32_t version);
};

class I8042 final : public PioDevice {
public:
    static constexpr uint16_t kDataPort = 0x60;
    static constexpr uint16_t kCommandPort = 0x64;
    static constexpr uint32_t kKeyboardIrq = 1;
    static constexpr std::array<PortRange, 1> kPorts{{{kDataPort, kCommandPort - kDataPort + 1}}};

    I8042(IrqLine irq, GuestRequestSink requests) : _irq(std::move(irq)), _requests(std::move(requests)) {}

    // Registered over 0x60..0x64; offsets 0 (data) and 4 (status/command).
    void pio_read(uint16_t offset, std::span<uint8_t> data) override;
    void pio_write(uint16_t offset, std::span<const uint8_t> data) override;

    // Queues the scancodes of Ctrl+Alt+Del and interrupts the guest.
    void send_ctrl_alt_del();

    I8042State save() const;
    void restore(const I8042State& state);

private:
    void command(uint8_t cmd);
    void data(uint8_t value);
    void push_output(uint8_t byte);

    IrqLine _irq;
    GuestRequestSink _requests;
    mutable std::mutex _mutex;
    I8042State _s;
};

// Ports a PC guest expects to exist (POST delay 0x80, CMOS/RTC 0x70-0x71,
// system control 0x61/0x92): reads are zero, writes are ignored.
class QuietPorts final : public PioDevice {
public:
    static constexpr std::array<PortRange, 4> kPorts{{{0x61, 1}, {0x70, 2}, {0x80, 1}, {0x92, 1}}};
    void pio_read(uint16_t, std::span<uint8_t> data) override;
    void pio_write(uint16_t, std::span<const uint8_t>) override {}
};

} // namespace brood::devices
