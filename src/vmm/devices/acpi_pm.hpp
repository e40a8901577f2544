// The ACPI power-management block a PC's FADT points at (PM1a event and
// control registers and the PM timer), at QEMU's PIIX4 addresses 0x600-0x60b,
// and the GPE0 block at 0x620 (one status byte, one enable byte). Linux reads
// and writes it once ACPI is not hardware-reduced; a write of SLP_EN to PM1a
// control (what ACPI S5 and the test guest do) powers off. The SCI (IRQ 9,
// level) is asserted while a general-purpose event is both pending and
// enabled; the VMM raises GPE 0 when the VM generation ID changes.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

#include "vmm/devices/io_bus.hpp"
#include "vmm/snapshot/persist.hpp"

namespace brood::devices {

// Plain data for snapshots: the registers the guest writes. The timer counts
// host time and has no state.
struct AcpiPmState {
    uint16_t enable = 0;
    uint16_t control = 0x0001; // SCI_EN
    uint8_t gpe_status = 0;
    uint8_t gpe_enable = 0;
};

// The ACPI PM section of a snapshot; state files written before it existed
// lack it, and restore keeps the power-on values.
struct AcpiPmCodec {
    using State = AcpiPmState;
    static constexpr snapshot::SectionKind kind{6, 2, "acpi-pm", false}; // 2: the GPE0 block
    static void encode(const State& s, snapshot::ByteWriter& w);
    static Result<State> decode(snapshot::ByteReader& r, uint32_t version);
};

class AcpiPm final : public PioDevice {
public:
    static constexpr uint16_t kBase = 0x600;
    static constexpr uint16_t kLength = 12;
    static constexpr uint16_t kGpeBase = 0x620;
    static constexpr uint16_t kGpeLength = 2; // status (W1C), enable
    // One range from kBase through the GPE0 block (the bus gives offsets from
    // a range's base); the ports between the blocks read 0 and ignore writes.
    static constexpr std::array<PortRange, 1> kPorts{{{kBase, kGpeBase - kBase + kGpeLength}}};
    static constexpr uint16_t kEventOffset = 0;   // PM1a_EVT_BLK: status (W1C), enable
    static constexpr uint16_t kEventLength = 4;
    static constexpr uint16_t kControlOffset = 4; // PM1a_CNT_BLK
    static constexpr uint16_t kControlLength = 2;
    static constexpr uint16_t kTimerOffset = 8;   // PM_TMR_BLK, 24-bit
    static constexpr uint16_t kTimerLength = 4;
    static constexpr uint32_t kTimerHz = 3'579'545;
    static constexpr uint16_t kSciEnable = 0x0001;
    static constexpr uint16_t kSleepEnable = 0x2000;
    static constexpr uint32_t kSciIrq = 9;

    AcpiPm(GuestRequestSink requests, IrqLine sci) : _requests(std::move(requests)), _sci(std::move(sci)) {}

    // Marks general-purpose event `bit` pending (the SCI follows if enabled).
    void raise_gpe(unsigned bit);

    void pio_read(uint16_t offset, std::span<uint8_t> data) override;
    void pio_write(uint16_t offset, std::span<const uint8_t> data) override;

    AcpiPmState save() const;
    void restore(const AcpiPmState& state);

private:
    uint8_t read_byte(uint16_t offset, uint32_t timer) const;
    void gpe_io(uint16_t offset, std::span<uint8_t> read, std::span<const uint8_t> write);
    // With _mutex held: the SCI's level after a GPE register changed.
    void update_sci();

    GuestRequestSink _requests;
    IrqLine _sci;
    mutable std::mutex _mutex;
    uint8_t _gpe_status = 0, _gpe_enable = 0;
    bool _sci_level = false;
    uint16_t _enable = 0;
    uint16_t _control = kSciEnable; // ACPI mode from the start: there is no SMI_CMD
};

} // namespace brood::devices
