// The i8042 keyboard controller with a PS/2 keyboard behind it and no mouse
// port. A guest resets the machine through it (command 0xfe) and receives
// Ctrl+Alt+Del from it for a graceful stop; the rest is there so Linux's
// i8042 and atkbd drivers find a controller and a keyboard at once and bind,
// rather than waiting out their timeouts.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <mutex>

#include "vmm/devices/io_bus.hpp"
#include "vmm/snapshot/persist.hpp"

namespace brood::devices {

// Controller configuration byte (command 0x20/0x60).
inline constexpr uint8_t kI8042KeyboardIrq = 0x01, kI8042SystemFlag = 0x04, kI8042KeyboardDisabled = 0x10,
                         kI8042MouseDisabled = 0x20, kI8042Translate = 0x40;

struct I8042State {
    // What a PC's firmware leaves: keyboard interrupt on, scancodes
    // translated to set 1, the (absent) mouse port disabled.
    uint8_t control = kI8042KeyboardIrq | kI8042SystemFlag | kI8042MouseDisabled | kI8042Translate;
    uint8_t pending_command = 0;  // controller command waiting for its data byte
    uint8_t keyboard_command = 0; // keyboard command waiting for its parameter (version 2)
    std::deque<uint8_t> output;
};

// The i8042 section of a snapshot.
struct I8042Codec {
    using State = I8042State;
    static constexpr snapshot::SectionKind kind{5, 2, "i8042"}; // 2: the keyboard's pending command
    static void encode(const State& s, snapshot::ByteWriter& w);
    static Result<State> decode(snapshot::ByteReader& r, uint32_t version);
};

class I8042 final : public PioDevice {
public:
    static constexpr uint16_t kDataPort = 0x60;
    static constexpr uint16_t kCommandPort = 0x64;
    static constexpr uint32_t kKeyboardIrq = 1;
    static constexpr std::array<PortRange, 1> kPorts{{{kDataPort, kCommandPort - kDataPort + 1}}};
    static constexpr size_t kOutputLimit = 16;

    I8042(IrqLine irq, GuestRequestSink requests) : _irq(std::move(irq)), _requests(std::move(requests)) {}

    // Registered over 0x60..0x64; offsets 0 (data) and 4 (status/command).
    void pio_read(uint16_t offset, std::span<uint8_t> data) override;
    void pio_write(uint16_t offset, std::span<const uint8_t> data) override;

    // Queues the scancodes of Ctrl+Alt+Del (set 1 when the controller
    // translates, set 2 otherwise) and interrupts the guest.
    void send_ctrl_alt_del();

    I8042State save() const;
    void restore(const I8042State& state);

private:
    void controller_command(uint8_t cmd); // its answers are polled: no interrupt
    // Each returns whether the guest is to be interrupted.
    bool data_write(uint8_t value);
    bool keyboard_byte(uint8_t value);
    bool from_keyboard(std::initializer_list<uint8_t> bytes);
    bool interrupts_enabled() const;
    void push(uint8_t byte);
    void interrupt();

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
