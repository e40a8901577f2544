// The i8042 and its keyboard as Linux's i8042 and atkbd drivers drive them:
// the controller answers its probe, says it has no mouse port, and the
// keyboard answers through its interrupt; Ctrl+Alt+Del in the scancode set
// the guest chose; the reset command; snapshot state old and new.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <vector>

#include "vmm/devices/i8042.hpp"

namespace brood::devices {
namespace {

constexpr uint16_t kData = 0, kCommand = 4;

class I8042Test : public ::testing::Test {
protected:
    I8042Test()
        : kbd([this](bool level) { pulses += level ? 1 : 0; },
              [this](GuestRequest r) { requests.push_back(r); }) {}

    uint8_t in(uint16_t offset) {
        uint8_t v = 0;
        kbd.pio_read(offset, std::span<uint8_t>(&v, 1));
        return v;
    }
    void out(uint16_t offset, uint8_t v) { kbd.pio_write(offset, std::span<const uint8_t>(&v, 1)); }
    bool output_full() { return (in(kCommand) & 0x01) != 0; }
    // Reads every byte waiting, as Linux's interrupt handler does one per interrupt.
    std::vector<uint8_t> drain() {
        std::vector<uint8_t> bytes;
        while (output_full()) bytes.push_back(in(kData));
        return bytes;
    }

    int pulses = 0;
    std::vector<GuestRequest> requests;
    I8042 kbd;
};

TEST_F(I8042Test, StatusSaysNotInhibitedAndNothingWaiting) {
    EXPECT_EQ(in(kCommand), 0x14) << "system flag and keyboard not inhibited";
}

TEST_F(I8042Test, ControllerAnswersItsSelfTestsWithoutInterrupting) {
    out(kCommand, 0xaa);
    EXPECT_EQ(drain(), std::vector<uint8_t>{0x55});
    out(kCommand, 0xab);
    EXPECT_EQ(drain(), std::vector<uint8_t>{0x00});
    EXPECT_EQ(pulses, 0) << "the controller's own answers are polled";
}

TEST_F(I8042Test, ConfigurationByteStartsTranslatedWithTheMousePortOffAndKeepsWhatIsWritten) {
    out(kCommand, 0x20);
    EXPECT_EQ(drain(), std::vector<uint8_t>{0x65});
    out(kCommand, 0x60);
    out(kData, 0x74);
    out(kCommand, 0xae); // enable the keyboard: clears bit 4
    out(kCommand, 0xa8); // enable the mouse port: clears bit 5
    out(kCommand, 0x20);
    EXPECT_EQ(drain(), std::vector<uint8_t>{0x44});
    out(kCommand, 0xad);
    out(kCommand, 0xa7);
    out(kCommand, 0x20);
    EXPECT_EQ(drain(), std::vector<uint8_t>{0x74});
}

TEST_F(I8042Test, NoMousePort) {
    // Linux's loopback test: 0xd3 then a byte, expecting it back from the
    // mouse port. Here the byte reaches the keyboard, which asks for it again.
    out(kCommand, 0xd3);
    out(kData, 0x5a);
    EXPECT_EQ(drain(), std::vector<uint8_t>{0xfe});
    out(kCommand, 0xa9);
    EXPECT_EQ(drain(), std::vector<uint8_t>{0x01}) << "mouse port interface test: clock line stuck low";
    // A byte for the mouse goes nowhere, and not to the keyboard.
    out(kCommand, 0xd4);
    out(kData, 0xf4);
    EXPECT_TRUE(drain().empty());
}

TEST_F(I8042Test, KeyboardIdentifiesItselfThroughItsInterruptOneByteAtATime) {
    out(kData, 0xf2);
    EXPECT_EQ(pulses, 1);
    EXPECT_EQ(in(kData), 0xfa);
    EXPECT_EQ(pulses, 2) << "the next byte raises the line again";
    EXPECT_EQ(in(kData), 0xab);
    EXPECT_EQ(in(kData), 0x41) << "translated keyboard ID";
    EXPECT_EQ(pulses, 3) << "nothing left after the last byte";
    EXPECT_FALSE(output_full());

    out(kCommand, 0x60);
    out(kData, 0x05); // interrupt on, no translation
    out(kData, 0xf2);
    EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xab, 0x83}));
}

TEST_F(I8042Test, KeyboardCommandsWithAParameterAckBoth) {
    out(kData, 0xed);
    out(kData, 0x07);
    out(kData, 0xf3);
    out(kData, 0x20);
    out(kData, 0xf4);
    EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xfa, 0xfa, 0xfa, 0xfa}));
    out(kData, 0xf0);
    out(kData, 0x00);
    EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xfa, 0x41})) << "two ACKs, then set 2, translated";
    out(kData, 0xff);
    EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xaa})) << "reset: self test passed";
    out(kData, 0xee);
    EXPECT_EQ(drain(), std::vector<uint8_t>{0xee});
    out(kData, 0x12);
    EXPECT_EQ(drain(), std::vector<uint8_t>{0xfe}) << "not a command: resend";
}

TEST_F(I8042Test, NoInterruptWhileTheKeyboardIsDisabledOrItsInterruptOff) {
    out(kCommand, 0xad);
    out(kData, 0xf2);
    EXPECT_EQ(pulses, 0);
    EXPECT_EQ(drain().size(), 3u);
    out(kCommand, 0xae);
    out(kCommand, 0x60);
    out(kData, 0x44); // translated, interrupt off
    kbd.send_ctrl_alt_del();
    EXPECT_EQ(pulses, 0);
    EXPECT_EQ(drain().size(), 6u);
}

TEST_F(I8042Test, CtrlAltDelInTheScancodeSetTheGuestChose) {
    kbd.send_ctrl_alt_del();
    EXPECT_EQ(pulses, 1);
    EXPECT_EQ(drain(), (std::vector<uint8_t>{0x1d, 0x38, 0x53, 0xd3, 0xb8, 0x9d}));
    out(kCommand, 0x60);
    out(kData, 0x05);
    kbd.send_ctrl_alt_del();
    EXPECT_EQ(drain(), (std::vector<uint8_t>{0x14, 0x11, 0x71, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14}));
}

TEST_F(I8042Test, CtrlAltDelIsAllOrNothingWhenTheBufferIsFull) {
    for (int i = 0; i < 6; ++i) out(kData, 0xf2); // 18 bytes asked, 16 kept
    pulses = 0;
    kbd.send_ctrl_alt_del();
    EXPECT_EQ(pulses, 0);
    auto bytes = drain();
    EXPECT_EQ(bytes.size(), I8042::kOutputLimit);
    EXPECT_EQ(std::count(bytes.begin(), bytes.end(), 0x1d), 0) << "no half Ctrl+Alt+Del";
}

TEST_F(I8042Test, PulseResetAsksForAReset) {
    out(kCommand, 0xfe);
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0], GuestRequest::reset);
}

TEST_F(I8042Test, SnapshotKeepsAKeyboardCommandHalfWay) {
    out(kData, 0xed);
    drain();
    snapshot::ByteWriter w;
    I8042Codec::encode(kbd.save(), w);
    snapshot::ByteReader r(w.bytes(), "i8042 section");
    auto state = I8042Codec::decode(r, I8042Codec::kind.version);
    ASSERT_TRUE(state) << state.error().message();
    I8042 other([this](bool level) { pulses += level ? 1 : 0; }, [](GuestRequest) {});
    other.restore(*state);
    uint8_t leds = 0x02, got = 0;
    other.pio_write(kData, std::span<const uint8_t>(&leds, 1));
    other.pio_read(kData, std::span<uint8_t>(&got, 1));
    EXPECT_EQ(got, 0xfa) << "the LED byte is taken as the parameter, not as a command";
}

TEST_F(I8042Test, SnapshotVersionOneHasNoKeyboardCommandAndKeepsSendingSetOne) {
    snapshot::ByteWriter w;
    w.u8(0x01); // what version 1 started with: interrupt on, no translation bit
    w.u8(0);
    w.queue({0xfa});
    snapshot::ByteReader r(w.bytes(), "i8042 section");
    auto state = I8042Codec::decode(r, 1);
    ASSERT_TRUE(state) << state.error().message();
    EXPECT_EQ(state->control, 0x41) << "version 1 sent set 1 scancodes: translation on";
    EXPECT_EQ(state->keyboard_command, 0);
    EXPECT_EQ(state->output, std::deque<uint8_t>{0xfa});
    kbd.restore(*state);
    drain();
    kbd.send_ctrl_alt_del();
    EXPECT_EQ(drain().front(), 0x1d) << "Ctrl in set 1, as before";
}

TEST_F(I8042Test, SnapshotWithMoreOutputThanTheBufferHoldsIsRefused) {
    snapshot::ByteWriter w;
    w.u8(0x45);
    w.u8(0);
    w.queue(std::deque<uint8_t>(4096, 0xfa));
    w.u8(0);
    snapshot::ByteReader r(w.bytes(), "i8042 section");
    auto state = I8042Codec::decode(r, 2);
    ASSERT_FALSE(state);
    EXPECT_NE(state.error().message().find("output buffer"), std::string::npos) << state.error().message();
}

} // namespace
} // namespace brood::devices
