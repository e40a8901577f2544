#include "vmm/devices/acpi_pm.hpp"

#include <time.h>

#include <algorithm>

namespace brood::devices {
namespace {

uint32_t pm_timer_now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    const unsigned __int128 ns = static_cast<unsigned __int128>(ts.tv_sec) * 1'000'000'000u +
                                 static_cast<unsigned __int128>(ts.tv_nsec);
    return static_cast<uint32_t>(ns * AcpiPm::kTimerHz / 1'000'000'000u) & 0xffffffu;
}

uint8_t byte_of(uint32_t value, unsigned index) { return static_cast<uint8_t>(value >> (8 * index)); }

} // namespace

// Status bits are never set (brood raises no SCI), so status reads 0.
uint8_t AcpiPm::read_byte(uint16_t offset, uint32_t timer) const {
    if (offset >= kEventOffset + 2 && offset < kEventOffset + kEventLength) return byte_of(_enable, offset - 2u);
    if (offset >= kControlOffset && offset < kControlOffset + kControlLength)
        return byte_of(_control, offset - kControlOffset);
    if (offset >= kTimerOffset && offset < kTimerOffset + kTimerLength) return byte_of(timer, offset - kTimerOffset);
    return 0;
}

// Offsets count from kBase (the device's one port range): the GPE0 block's
// start at kGpeBase - kBase.
constexpr uint16_t kGpeOffset = AcpiPm::kGpeBase - AcpiPm::kBase;

void AcpiPm::update_sci() {
    const bool level = (_gpe_status & _gpe_enable) != 0 && (_control & kSciEnable);
    if (level == _sci_level) return;
    _sci_level = level;
    if (_sci) _sci(level);
}

void AcpiPm::raise_gpe(unsigned bit) {
    std::lock_guard lock(_mutex);
    _gpe_status = static_cast<uint8_t>(_gpe_status | (1u << (bit & 7)));
    update_sci();
}

void AcpiPm::gpe_io(uint16_t offset, std::span<uint8_t> read, std::span<const uint8_t> write) {
    std::lock_guard lock(_mutex);
    for (size_t i = 0; i < std::max(read.size(), write.size()); ++i) {
        const unsigned reg = offset + static_cast<unsigned>(i) - kGpeOffset;
        if (reg > 1) break;
        if (!read.empty()) read[i] = reg == 0 ? _gpe_status : _gpe_enable;
        else if (reg == 0) _gpe_status = static_cast<uint8_t>(_gpe_status & ~write[i]); // write 1 to clear
        else _gpe_enable = write[i];
    }
    update_sci();
}

void AcpiPm::pio_read(uint16_t offset, std::span<uint8_t> data) {
    if (offset >= kGpeOffset) return gpe_io(offset, data, {});
    const uint32_t timer = pm_timer_now();
    std::lock_guard lock(_mutex);
    for (size_t i = 0; i < data.size(); ++i) data[i] = read_byte(static_cast<uint16_t>(offset + i), timer);
}

void AcpiPm::pio_write(uint16_t offset, std::span<const uint8_t> data) {
    if (offset >= kGpeOffset) return gpe_io(offset, {}, data);
    bool power_off = false;
    {
        std::lock_guard lock(_mutex);
        for (size_t i = 0; i < data.size(); ++i) {
            const unsigned at = offset + static_cast<unsigned>(i);
            const unsigned shift = 8 * (at & 1u);
            const auto mask = static_cast<uint16_t>(0xffu << shift);
            const auto bits = static_cast<uint16_t>(data[i] << shift);
            if (at == kEventOffset + 2 || at == kEventOffset + 3)
                _enable = static_cast<uint16_t>((_enable & ~mask) | bits);
            else if (at == kControlOffset || at == kControlOffset + 1)
                _control = static_cast<uint16_t>((_control & ~mask) | bits);
        }
        // Any sleep request is a power-off: the DSDT offers S5 only.
        if (_control & kSleepEnable) {
            power_off = true;
            _control = static_cast<uint16_t>(_control & ~kSleepEnable);
        }
        _control |= kSciEnable;
    }
    if (power_off) _requests(GuestRequest::power_off);
}

AcpiPmState AcpiPm::save() const {
    std::lock_guard lock(_mutex);
    return {_enable, _control, _gpe_status, _gpe_enable};
}

void AcpiPm::restore(const AcpiPmState& state) {
    std::lock_guard lock(_mutex);
    _enable = state.enable;
    _control = state.control;
    _gpe_status = state.gpe_status;
    _gpe_enable = state.gpe_enable;
    // The irqchip's own section restored the line's level: resync, then
    // re-drive it from these registers.
    _sci_level = !((_gpe_status & _gpe_enable) != 0 && (_control & kSciEnable));
    update_sci();
}

void AcpiPmCodec::encode(const State& s, snapshot::ByteWriter& w) {
    w.u32(s.enable);
    w.u32(s.control);
    w.u32(s.gpe_status);
    w.u32(s.gpe_enable);
}

Result<AcpiPmState> AcpiPmCodec::decode(snapshot::ByteReader& r, uint32_t version) {
    AcpiPmState s;
    s.enable = static_cast<uint16_t>(TRY(r.u32()));
    s.control = static_cast<uint16_t>(TRY(r.u32()));
    if (version >= 2) {
        s.gpe_status = static_cast<uint8_t>(TRY(r.u32()));
        s.gpe_enable = static_cast<uint8_t>(TRY(r.u32()));
    }
    return s;
}

} // namespace brood::devices
