#include "vmm/devices/i8042.hpp"

#include <algorithm>

namespace brood::devices {
namespace {

constexpr uint8_t kStatusOutputFull = 0x01;
constexpr uint8_t kStatusSystemFlag = 0x04;
constexpr uint8_t kCmdReadControl = 0x20, kCmdWriteControl = 0x60, kCmdSelfTest = 0xaa,
                  kCmdInterfaceTest = 0xab, kCmdReadOutputPort = 0xd0, kCmdWriteOutputPort = 0xd1,
                  kCmdPulseReset = 0xfe;
constexpr uint8_t kSelfTestOk = 0x55;
constexpr uint8_t kControlKeyboardIrq = 0x01;

} // namespace

void I8042::pio_read(uint16_t offset, std::span<uint8_t> out) {
    std::lock_guard lock(_mutex);
    for (auto& byte : out) {
        if (offset == 0) {
            byte = 0;
            if (!_s.output.empty()) {
                byte = _s.output.front();
                _s.output.pop_front();
            }
        } else {
            byte = static_cast<uint8_t>(kStatusSystemFlag | (_s.output.empty() ? 0 : kStatusOutputFull));
        }
    }
}

void I8042::pio_write(uint16_t offset, std::span<const uint8_t> in) {
    bool reset = false;
    {
        std::lock_guard lock(_mutex);
        for (uint8_t value : in) {
            if (offset == 4) {
                if (value == kCmdPulseReset) reset = true;
                else command(value);
            } else if (offset == 0) {
                data(value);
            }
        }
    }
    if (reset) _requests(GuestRequest::reset);
}

void I8042::command(uint8_t cmd) {
    switch (cmd) {
    case kCmdReadControl: push_output(_s.control); break;
    case kCmdSelfTest: push_output(kSelfTestOk); break;
    case kCmdInterfaceTest: push_output(0x00); break;
    case kCmdReadOutputPort: push_output(0x01); break;
    case kCmdWriteControl:
    case kCmdWriteOutputPort: _s.pending_command = cmd; break;
    default: break;
    }
}

void I8042::data(uint8_t value) {
    if (_s.pending_command == kCmdWriteControl) _s.control = value;
    else if (_s.pending_command == 0) push_output(0xfa); // keyboard ACK
    _s.pending_command = 0;
}

void I8042::push_output(uint8_t byte) {
    if (_s.output.size() < 16) _s.output.push_back(byte);
}

void I8042::send_ctrl_alt_del() {
    bool interrupt;
    {
        std::lock_guard lock(_mutex);
        // Set 1 scancodes: Ctrl, Alt, Del pressed then released.
        for (uint8_t code : {0x1d, 0x38, 0x53, 0xd3, 0xb8, 0x9d}) push_output(code);
        interrupt = (_s.control & kControlKeyboardIrq) != 0;
    }
    if (interrupt) {
        _irq(true);
        _irq(false);
    }
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
}

Result<I8042State> I8042Codec::decode(snapshot::ByteReader& r, uint32_t) {
    I8042State s;
    s.control = TRY(r.u8());
    s.pending_command = TRY(r.u8());
    s.output = TRY(r.queue());
    return s;
}

} // namespace brood::devices
