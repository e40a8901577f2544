#include "vmm/devices/acpi_pm.hpp"

#include <time.h>

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

void AcpiPm::pio_read(uint16_t offset, std::span<uint8_t> data) {
    const uint32_t timer = pm_timer_now();
    std::lock_guard lock(_mutex);
    for (size_t i = 0; i < data.size(); ++i) data[i] = read_byte(static_cast<uint16_t>(offset + i), timer);
}

void AcpiPm::pio_write(uint16_t offset, std::span<const uint8_t> data) {
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
    return {_enable, _control};
}

void AcpiPm::restore(const AcpiPmState& state) {
    std::lock_guard lock(_mutex);
    _enable = state.enable;
    _control = state.control;
}

void AcpiPmCodec::encode(const State& s, snapshot::ByteWriter& w) {
    w.u32(s.enable);
    w.u32(s.control);
}

Result<AcpiPmState> AcpiPmCodec::decode(snapshot::ByteReader& r, uint32_t) {
    AcpiPmState s;
    s.enable = static_cast<uint16_t>(TRY(r.u32()));
    s.control = static_cast<uint16_t>(TRY(r.u32()));
    return s;
}

} // namespace brood::devices
