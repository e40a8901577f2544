#include "vmm/devices/i8042.hpp"

#include <algorithm>
#include <span>
#include <utility>

#include <fmt/format.h>

namespace brood::devices {
namespace {

constexpr uint8_t kStatusOutputFull = 0x01, kStatusSystemFlag = 0x04, kStatusNotInhibited = 0x10;

// Controller commands (port 0x64).
constexpr uint8_t kCmdReadControl = 0x20, kCmdWriteControl = 0x60, kCmdDisableMouse = 0xa7,
                  kCmdEnableMouse = 0xa8, kCmdTestMouse = 0xa9, kCmdSelfTest = 0xaa, kCmdTestKeyboard = 0xab,
                  kCmdDisableKeyboard = 0xad, kCmdEnableKeyboard = 0xae, kCmdReadOutputPort = 0xd0,
                  kCmdWriteOutputPort = 0xd1, kCmdWriteKeyboardOutput = 0xd2, kCmdWriteMouse = 0xd4,
                  kCmdPulseReset = 0xfe;
constexpr uint8_t kSelfTestOk = 0x55, kInterfaceOk = 0x00, kOutputPortIdle = 0x01;
// No mouse drives the mouse port's clock line: its interface test says
// "clock stuck low", which tells Linux there is no mouse port. Command 0xd3
// (the mouse port's loopback) is no command here either, so the byte after it
// goes to the keyboard, which asks for it again.
constexpr uint8_t kMouseClockStuckLow = 0x01;

// Keyboard commands (port 0x60) and its answers.
constexpr uint8_t kKbdSetLeds = 0xed, kKbdEcho = 0xee, kKbdScancodeSet = 0xf0, kKbdIdentify = 0xf2,
                  kKbdTypematic = 0xf3, kKbdFirstNoArgument = 0xf4, kKbdReset = 0xff;
constexpr uint8_t kKbdAck = 0xfa, kKbdResend = 0xfe, kKbdSelfTestPassed = 0xaa, kKbdIdFirst = 0xab;
// The ID's second byte and the scancode set (2), as the keyboard sends them
// and as a translating controller passes them on.
constexpr uint8_t kKbdIdSecond = 0x83, kKbdIdSecondTranslated = 0x41;
constexpr uint8_t kScancodeSet2 = 0x02, kScancodeSet2Translated = 0x41;

// Ctrl, Alt and keypad Del pressed, then released.
constexpr uint8_t kCtrlAltDelSet1[] = {0x1d, 0x38, 0x53, 0xd3, 0xb8, 0x9d};
constexpr uint8_t kCtrlAltDelSet2[] = {0x14, 0x11, 0x71, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14};

} // namespace

void I8042::pio_read(uint16_t offset, std::span<uint8_t> out) {
    bool more = false;
    {
        std::lock_guard lock(_mutex);
        for (auto& byte : out) {
            if (offset == 0) {
                byte = 0;
                if (!_s.output.empty()) {
                    byte = _s.output.front();
                    _s.output.pop_front();
                }
                more = !_s.output.empty();
            } else {
                byte = static_cast<uint8_t>(kStatusSystemFlag | kStatusNotInhibited |
                                            (_s.output.empty() ? 0 : kStatusOutputFull));
            }
        }
        more = more && interrupts_enabled();
    }
    // The next byte moves into the output buffer and raises the line again,
    // as a real controller's one-byte buffer does.
    if (more) interrupt();
}

void I8042::pio_write(uint16_t offset, std::span<const uint8_t> in) {
    bool reset = false, irq = false;
    {
        std::lock_guard lock(_mutex);
        for (uint8_t value : in) {
            if (offset == 4) {
                if (value == kCmdPulseReset) reset = true;
                else controller_command(value);
            } else if (offset == 0) {
                irq = data_write(value) || irq;
            }
        }
    }
    if (irq) interrupt();
    if (reset) _requests(GuestRequest::reset);
}

void I8042::controller_command(uint8_t cmd) {
    _s.pending_command = 0;
    switch (cmd) {
    case kCmdReadControl: push(_s.control); break;
    case kCmdWriteControl:
    case kCmdWriteOutputPort:
    case kCmdWriteKeyboardOutput:
    case kCmdWriteMouse: _s.pending_command = cmd; break;
    case kCmdDisableMouse: _s.control |= kI8042MouseDisabled; break;
    case kCmdEnableMouse: _s.control &= static_cast<uint8_t>(~kI8042MouseDisabled); break;
    case kCmdTestMouse: push(kMouseClockStuckLow); break;
    case kCmdSelfTest: push(kSelfTestOk); break;
    case kCmdTestKeyboard: push(kInterfaceOk); break;
    case kCmdDisableKeyboard: _s.control |= kI8042KeyboardDisabled; break;
    case kCmdEnableKeyboard: _s.control &= static_cast<uint8_t>(~kI8042KeyboardDisabled); break;
    case kCmdReadOutputPort: push(kOutputPortIdle); break;
    default: break;
    }
}

bool I8042::data_write(uint8_t value) {
    switch (std::exchange(_s.pending_command, 0)) {
    case kCmdWriteControl: _s.control = value; return false;
    case kCmdWriteOutputPort: return false; // A20 and the reset line: a reset is command 0xfe
    case kCmdWriteKeyboardOutput: return from_keyboard({value});
    case kCmdWriteMouse: return false; // no mouse to take it
    default: return keyboard_byte(value);
    }
}

bool I8042::keyboard_byte(uint8_t value) {
    const bool translated = (_s.control & kI8042Translate) != 0;
    if (uint8_t cmd = std::exchange(_s.keyboard_command, 0)) {
        if (cmd == kKbdScancodeSet && value == 0)
            return from_keyboard({kKbdAck, translated ? kScancodeSet2Translated : kScancodeSet2});
        return from_keyboard({kKbdAck}); // the LEDs, the typematic rate, a scancode set: taken
    }
    switch (value) {
    case kKbdSetLeds:
    case kKbdScancodeSet:
    case kKbdTypematic: _s.keyboard_command = value; return from_keyboard({kKbdAck});
    case kKbdEcho: return from_keyboard({kKbdEcho});
    case kKbdIdentify: return from_keyboard({kKbdAck, kKbdIdFirst, translated ? kKbdIdSecondTranslated : kKbdIdSecond});
    case kKbdReset: return from_keyboard({kKbdAck, kKbdSelfTestPassed});
    default:
        // Enable, disable, defaults, the set-all-keys family and resend.
        if (value >= kKbdFirstNoArgument) return from_keyboard({kKbdAck});
        return from_keyboard({kKbdResend});
    }
}

bool I8042::from_keyboard(std::initializer_list<uint8_t> bytes) {
    for (uint8_t b : bytes) push(b);
    return interrupts_enabled();
}

bool I8042::interrupts_enabled() const {
    return (_s.control & kI8042KeyboardIrq) != 0 && (_s.control & kI8042KeyboardDisabled) == 0;
}

void I8042::push(uint8_t byte) {
    if (_s.output.size() < kOutputLimit) _s.output.push_back(byte);
}

void I8042::interrupt() {
    _irq(true);
    _irq(false);
}

void I8042::send_ctrl_alt_del() {
    bool irq = false;
    {
        std::lock_guard lock(_mutex);
        std::span<const uint8_t> codes = kCtrlAltDelSet1;
        if ((_s.control & kI8042Translate) == 0) codes = kCtrlAltDelSet2;
        // All or nothing: half of it could leave Ctrl or Alt held down.
        if (_s.output.size() + codes.size() <= kOutputLimit) {
            _s.output.insert(_s.output.end(), codes.begin(), codes.end());
            irq = interrupts_enabled();
        }
    }
    if (irq) interrupt();
}

I8042State I8042::save() const {
    std::lock_guard lock(_mutex);
    return _s;
}

void I8042::restore(const I8042State& state) {
    std::lock_guard lock(_mutex);
    _s = state;
}

void QuietPorts::pio_read(uint16_t, std::span<uint8_t> data) { std::fill(data.begin(), data.end(), uint8_t{0}); }

void I8042Codec::encode(const State& s, snapshot::ByteWriter& w) {
    w.u8(s.control);
    w.u8(s.pending_command);
    w.queue(s.output);
    w.u8(s.keyboard_command);
}

Result<I8042State> I8042Codec::decode(snapshot::ByteReader& r, uint32_t version) {
    I8042State s;
    s.control = TRY(r.u8());
    s.pending_command = TRY(r.u8());
    s.output = TRY(r.queue());
    if (s.output.size() > I8042::kOutputLimit)
        return fail(fmt::format("i8042: {} bytes waiting in the output buffer, more than the {} it holds",
                                s.output.size(), I8042::kOutputLimit));
    if (version >= 2) {
        s.keyboard_command = TRY(r.u8());
    } else {
        // Version 1 sent set 1 scancodes whatever this byte said: what a
        // translating controller sends. Keep it so for the restored guest.
        s.control |= kI8042Translate;
    }
    return s;
}

} // namespace brood::devices
