// A 16550A UART (COM1): enough for Linux's 8250 driver and the test guest.
// Output goes to a sink; input is queued from the host side.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>

#include "vmm/devices/io_bus.hpp"
#include "vmm/snapshot/persist.hpp"

namespace brood::devices {

// Plain data for snapshots.
struct SerialState {
    uint8_t ier = 0, iir_fcr = 0, lcr = 0, mcr = 0, scr = 0, dll = 0, dlm = 0;
    bool thre_pending = false;
    std::deque<uint8_t> rx;
};

// The serial section of a snapshot.
struct SerialCodec {
    using State = SerialState;
    static constexpr snapshot::SectionKind kind{4, 1, "serial"};
    static void encode(const State& s, snapshot::ByteWriter& w);
    static Result<State> decode(snapshot::ByteReader& r, uint32_t version);
};

class Serial final : public PioDevice {
public:
    static constexpr uint16_t kCom1Base = 0x3f8;
    static constexpr std::array<PortRange, 1> kPorts{{{kCom1Base, 8}}};
    static constexpr uint32_t kCom1Irq = 4;
    static constexpr size_t kRxCapacity = 64 * 1024;
    using OutputSink = std::function<void(uint8_t)>;

    Serial(IrqLine irq, OutputSink sink) : _irq(std::move(irq)), _sink(std::move(sink)) {}

    void pio_read(uint16_t offset, std::span<uint8_t> data) override;
    void pio_write(uint16_t offset, std::span<const uint8_t> data) override;

    // Host → guest bytes; excess beyond kRxCapacity is dropped.
    void receive(std::span<const uint8_t> bytes);

    SerialState save() const;
    void restore(const SerialState& state);

private:
    uint8_t read_register(uint16_t offset);
    void write_register(uint16_t offset, uint8_t value);
    void update_irq();
    bool loopback() const;

    IrqLine _irq;
    OutputSink _sink;
    mutable std::mutex _mutex;
    SerialState _s;
    bool _irq_level = false;
};

} // namespace brood::devices
