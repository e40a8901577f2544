// The 16550A as a guest driver sees it: registers, interrupts, loopback.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vmm/devices/serial.hpp"

namespace brood::devices {
namespace {

class SerialTest : public ::testing::Test {
protected:
    SerialTest()
        : serial([this](bool level) { irq_levels.push_back(level); }, [this](uint8_t b) { output += char(b); }) {}

    uint8_t in(uint16_t reg) {
        uint8_t v = 0;
        serial.pio_read(reg, std::span<uint8_t>(&v, 1));
        return v;
    }
    void out(uint16_t reg, uint8_t v) { serial.pio_write(reg, std::span<const uint8_t>(&v, 1)); }
    bool irq() const { return !irq_levels.empty() && irq_levels.back(); }

    std::vector<bool> irq_levels;
    std::string output;
    Serial serial;
};

TEST_F(SerialTest, TransmitGoesToTheSink) {
    for (char c : std::string("hi\n")) out(0, static_cast<uint8_t>(c));
    EXPECT_EQ(output, "hi\n");
    EXPECT_EQ(in(5) & 0x60, 0x60) << "THR empty and transmitter idle";
}

TEST_F(SerialTest, ReceiveRaisesInterruptOnlyWhenEnabled) {
    const uint8_t data[] = {'o', 'k'};
    serial.receive(data);
    EXPECT_FALSE(irq());
    EXPECT_EQ(in(5) & 0x01, 0x01) << "data ready";
    out(1, 0x01); // IER: receive data available
    EXPECT_TRUE(irq());
    EXPECT_EQ(in(2) & 0x0f, 0x04) << "IIR: receive data available";
    EXPECT_EQ(in(0), 'o');
    EXPECT_TRUE(irq());
    EXPECT_EQ(in(0), 'k');
    EXPECT_FALSE(irq()) << "line drops once the FIFO is drained";
    EXPECT_EQ(in(2) & 0x0f, 0x01) << "IIR: nothing pending";
    EXPECT_EQ(in(5) & 0x01, 0x00);
}

TEST_F(SerialTest, ThrEmptyInterruptIsAcknowledgedByReadingIir) {
    out(1, 0x02); // IER: THR empty
    EXPECT_TRUE(irq()) << "enabling THRE with an empty THR interrupts at once";
    EXPECT_EQ(in(2) & 0x0f, 0x02);
    EXPECT_FALSE(irq());
    out(0, 'x');
    EXPECT_TRUE(irq()) << "the byte left: THR is empty again";
}

TEST_F(SerialTest, DivisorLatchDoesNotDisturbData) {
    out(3, 0x80); // DLAB
    out(0, 0x01);
    out(1, 0x00);
    EXPECT_EQ(in(0), 0x01);
    out(3, 0x03); // 8N1, DLAB off
    EXPECT_EQ(output, "") << "divisor writes are not transmitted";
    EXPECT_EQ(in(3), 0x03);
}

TEST_F(SerialTest, LoopbackAsLinuxProbesIt) {
    out(4, 0x10 | 0x0a); // loop + RTS + OUT2
    EXPECT_EQ(in(6) & 0xf0, 0x90) << "CTS and DCD mirror RTS and OUT2";
    out(0, 'L');
    EXPECT_EQ(output, "") << "loopback does not transmit";
    EXPECT_EQ(in(0), 'L');
    out(4, 0x00);
    EXPECT_EQ(in(6) & 0xb0, 0xb0) << "CTS, DSR and DCD asserted outside loopback";
}

TEST_F(SerialTest, ScratchFifoControlAndUnknownOffsets) {
    out(7, 0x5a);
    EXPECT_EQ(in(7), 0x5a);
    out(2, 0x07); // enable and clear FIFOs
    EXPECT_EQ(in(2) & 0xc0, 0xc0);
    const uint8_t data[] = {'a'};
    serial.receive(data);
    out(2, 0x03); // clear receive FIFO
    EXPECT_EQ(in(5) & 0x01, 0x00);
    EXPECT_EQ(in(8), 0xff);
}

TEST_F(SerialTest, InputBeyondCapacityIsDropped) {
    std::vector<uint8_t> lots(Serial::kRxCapacity + 100, 'z');
    serial.receive(lots);
    EXPECT_EQ(serial.save().rx.size(), Serial::kRxCapacity);
}

TEST_F(SerialTest, SaveAndRestoreKeepRegistersAndPendingInput) {
    out(1, 0x01);
    out(3, 0x03);
    out(7, 0x42);
    const uint8_t data[] = {'q'};
    serial.receive(data);
    SerialState saved = serial.save();

    std::vector<bool> levels;
    Serial other([&](bool level) { levels.push_back(level); }, [](uint8_t) {});
    other.restore(saved);
    ASSERT_FALSE(levels.empty());
    EXPECT_TRUE(levels.back()) << "pending input re-raises the line after restore";
    uint8_t v = 0;
    other.pio_read(0, std::span<uint8_t>(&v, 1));
    EXPECT_EQ(v, 'q');
    other.pio_read(7, std::span<uint8_t>(&v, 1));
    EXPECT_EQ(v, 0x42);
}

} // namespace
} // namespace brood::devices
