#include "vmm/devices/serial.hpp"

namespace brood::devices {
namespace {

// Register offsets and bits (16550A data sheet).
constexpr uint16_t kData = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7;
constexpr uint8_t kIerRxAvailable = 0x01, kIerThrEmpty = 0x02;
constexpr uint8_t kIirNone = 0x01, kIirThrEmpty = 0x02, kIirRxAvailable = 0x04, kIirFifoEnabled = 0xc0;
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kLsrDataReady = 0x01, kLsrThrEmpty = 0x20, kLsrIdle = 0x40;
constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrDcd = 0x80;

} // namespace

bool Serial::loopback() const { return (_s.mcr & kMcrLoop) != 0; }

void Serial::pio_read(uint16_t offset, std::span<uint8_t> data) {
    std::lock_guard lock(_mutex);
    for (auto& byte : data) byte = read_register(offset);
    update_irq();
}

void Serial::pio_write(uint16_t offset, std::span<const uint8_t> data) {
    std::lock_guard lock(_mutex);
    for (uint8_t byte : data) write_register(offset, byte);
    update_irq();
}

void Serial::receive(std::span<const uint8_t> bytes) {
    std::lock_guard lock(_mutex);
    for (uint8_t b : bytes) {
        if (_s.rx.size() >= kRxCapacity) break;
        _s.rx.push_back(b);
    }
    update_irq();
}

uint8_t Serial::read_register(uint16_t offset) {
    bool dlab = (_s.lcr & kLcrDlab) != 0;
    switch (offset) {
    case kData:
        if (dlab) return _s.dll;
        if (_s.rx.empty()) return 0;
        {
            uint8_t b = _s.rx.front();
            _s.rx.pop_front();
            return b;
        }
    case kIer:
        return dlab ? _s.dlm : _s.ier;
    case kIir: {
        uint8_t fifo = (_s.iir_fcr & kFcrEnable) ? kIirFifoEnabled : 0;
        if ((_s.ier & kIerRxAvailable) && !_s.rx.empty()) return fifo | kIirRxAvailable;
        if ((_s.ier & kIerThrEmpty) && _s.thre_pending) {
            _s.thre_pending = false; // reading IIR acknowledges THR-empty
            return fifo | kIirThrEmpty;
        }
        return fifo | kIirNone;
    }
    case kLcr:
        return _s.lcr;
    case kMcr:
        return _s.mcr;
    case kLsr:
        return static_cast<uint8_t>(kLsrThrEmpty | kLsrIdle | (_s.rx.empty() ? 0 : kLsrDataReady));
    case kMsr:
        if (loopback()) {
            // Loopback wires RTS→CTS, DTR→DSR, OUT1→RI, OUT2→DCD.
            uint8_t m = _s.mcr;
            return static_cast<uint8_t>(((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) |
                                        ((m & 0x08) << 4));
        }
        return kMsrCts | kMsrDsr | kMsrDcd;
    case kScr:
        return _s.scr;
    default:
        return 0xff;
    }
}

void Serial::write_register(uint16_t offset, uint8_t value) {
    bool dlab = (_s.lcr & kLcrDlab) != 0;
    switch (offset) {
    case kData:
        if (dlab) {
            _s.dll = value;
            return;
        }
        if (loopback()) {
            if (_s.rx.size() < kRxCapacity) _s.rx.push_back(value);
        } else {
            _sink(value);
        }
        _s.thre_pending = true; // the byte left at once: THR is empty again
        return;
    case kIer:
        if (dlab) {
            _s.dlm = value;
            return;
        }
        if ((value & kIerThrEmpty) && !(_s.ier & kIerThrEmpty)) _s.thre_pending = true;
        _s.ier = value & 0x0f;
        return;
    case kIir:
        if (value & kFcrClearRx) _s.rx.clear();
        _s.iir_fcr = value;
        return;
    case kLcr:
        _s.lcr = value;
        return;
    case kMcr:
        _s.mcr = value & 0x1f;
        return;
    case kScr:
        _s.scr = value;
        return;
    default:
        return; // LSR and MSR are read-only
    }
}

void Serial::update_irq() {
    bool level = ((_s.ier & kIerRxAvailable) && !_s.rx.empty()) ||
                 ((_s.ier & kIerThrEmpty) && _s.thre_pending);
    if (level != _irq_level) {
        _irq_level = level;
        _irq(level);
    }
}

SerialState Serial::save() const {
    std::lock_guard lock(_mutex);
    return _s;
}

void Serial::restore(const SerialState& state) {
    std::lock_guard lock(_mutex);
    _s = state;
    _irq_level = false;
    update_irq();
}

void SerialCodec::encode(const State& s, snapshot::ByteWriter& w) {
    for (uint8_t x : {s.ier, s.iir_fcr, s.lcr, s.mcr, s.scr, s.dll, s.dlm}) w.u8(x);
    w.u8(s.thre_pending ? 1 : 0);
    w.queue(s.rx);
}

Result<SerialState> SerialCodec::decode(snapshot::ByteReader& r, uint32_t) {
    SerialState s;
    for (uint8_t* x : {&s.ier, &s.iir_fcr, &s.lcr, &s.mcr, &s.scr, &s.dll, &s.dlm}) *x = TRY(r.u8());
    s.thre_pending = TRY(r.u8()) != 0;
    s.rx = TRY(r.queue());
    return s;
}

} // namespace brood::devices
