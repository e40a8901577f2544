#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <thread>
#include <vector>

#include "vmm/devices/acpi_pm.hpp"

namespace brood::devices {
namespace {

class AcpiPmTest : public ::testing::Test {
protected:
    AcpiPm pm{[this](GuestRequest r) { requests.push_back(r); }, [this](bool level) { sci.push_back(level); }};
    std::vector<GuestRequest> requests;
    std::vector<bool> sci; // every change of the SCI line's level
    static constexpr uint16_t kGpeStatus = AcpiPm::kGpeBase - AcpiPm::kBase;
    static constexpr uint16_t kGpeEnable = kGpeStatus + 1;

    uint32_t read(uint16_t offset, size_t width) {
        std::array<uint8_t, 4> bytes{};
        pm.pio_read(offset, std::span(bytes.data(), width));
        uint32_t v = 0;
        for (size_t i = 0; i < width; ++i) v |= uint32_t{bytes[i]} << (8 * i);
        return v;
    }
    void write(uint16_t offset, uint32_t value, size_t width) {
        std::array<uint8_t, 4> bytes{};
        for (size_t i = 0; i < width; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
        pm.pio_write(offset, std::span<const uint8_t>(bytes.data(), width));
    }
};

TEST_F(AcpiPmTest, ControlReadsAcpiModeAndStatusNothingPending) {
    EXPECT_EQ(read(AcpiPm::kControlOffset, 2) & AcpiPm::kSciEnable, AcpiPm::kSciEnable);
    EXPECT_EQ(read(AcpiPm::kEventOffset, 2), 0u);
    write(AcpiPm::kEventOffset, 0xffff, 2); // write-1-to-clear: still nothing pending
    EXPECT_EQ(read(AcpiPm::kEventOffset, 2), 0u);
}

TEST_F(AcpiPmTest, EnableRegisterKeepsWhatTheGuestWrote) {
    write(AcpiPm::kEventOffset + 2, 0x0121, 2);
    EXPECT_EQ(read(AcpiPm::kEventOffset + 2, 2), 0x0121u);
    EXPECT_EQ(read(AcpiPm::kEventOffset, 4), 0x0121u << 16);
}

// Linux enters S5 by writing SLP_TYP, then SLP_TYP | SLP_EN.
TEST_F(AcpiPmTest, SleepEnablePowersOffOnce) {
    write(AcpiPm::kControlOffset, 5u << 10, 2);
    EXPECT_TRUE(requests.empty()) << "SLP_TYP alone must not power off";
    write(AcpiPm::kControlOffset, (5u << 10) | AcpiPm::kSleepEnable, 2);
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0], GuestRequest::power_off);
    EXPECT_EQ(read(AcpiPm::kControlOffset, 2) & AcpiPm::kSleepEnable, 0u) << "SLP_EN reads as 0";
}

TEST_F(AcpiPmTest, SleepEnableInTheHighByteAloneCounts) {
    write(AcpiPm::kControlOffset + 1, AcpiPm::kSleepEnable >> 8, 1);
    EXPECT_EQ(requests.size(), 1u);
}

TEST_F(AcpiPmTest, WritesElsewhereNeverPowerOff) {
    for (uint16_t off = 0; off < AcpiPm::kLength; ++off)
        if (off != AcpiPm::kControlOffset + 1) write(off, 0xff, 1);
    EXPECT_TRUE(requests.empty());
}

TEST_F(AcpiPmTest, TimerCountsAt3_58MHzIn24Bits) {
    const uint32_t a = read(AcpiPm::kTimerOffset, 4);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const uint32_t b = read(AcpiPm::kTimerOffset, 4);
    EXPECT_LE(a, 0xffffffu);
    EXPECT_LE(b, 0xffffffu);
    const uint32_t ticks = (b - a) & 0xffffffu;
    EXPECT_GE(ticks, 20u * AcpiPm::kTimerHz / 1000u); // at least 20 ms worth
    EXPECT_LT(ticks, 2000u * AcpiPm::kTimerHz / 1000u);
}

} // namespace
} // namespace brood::devices

namespace brood::devices {
namespace {

// GPE 0 announces a new VM generation ID: the SCI is high while it is both
// pending and enabled, and the guest clears it by writing 1.
TEST_F(AcpiPmTest, APendingEnabledGpeRaisesTheSciUntilTheGuestClearsIt) {
    pm.raise_gpe(0);
    EXPECT_EQ(read(kGpeStatus, 1), 1u);
    EXPECT_TRUE(sci.empty()) << "not enabled yet: no SCI";
    write(kGpeEnable, 1, 1);
    EXPECT_EQ(read(kGpeEnable, 1), 1u);
    ASSERT_EQ(sci, std::vector<bool>{true});
    write(kGpeStatus, 0x02, 1); // another bit: GPE 0 stays pending
    EXPECT_EQ(sci, std::vector<bool>{true});
    write(kGpeStatus, 0x01, 1);
    EXPECT_EQ(read(kGpeStatus, 1), 0u);
    EXPECT_EQ(sci, (std::vector<bool>{true, false}));
    // A two-byte access covers status and enable.
    pm.raise_gpe(0);
    EXPECT_EQ(read(kGpeStatus, 2), 0x0101u);
}

TEST_F(AcpiPmTest, GpeRegistersAreSavedAndTheSciFollowsARestore) {
    write(kGpeEnable, 1, 1);
    pm.raise_gpe(0);
    auto state = pm.save();
    EXPECT_EQ(state.gpe_status, 1);
    EXPECT_EQ(state.gpe_enable, 1);
    snapshot::ByteWriter w;
    AcpiPmCodec::encode(state, w);
    snapshot::ByteReader r(w.bytes(), "acpi-pm");
    auto back = AcpiPmCodec::decode(r, AcpiPmCodec::kind.version);
    ASSERT_TRUE(back);
    AcpiPm other{[](GuestRequest) {}, [this](bool level) { sci.push_back(level); }};
    sci.clear();
    other.restore(*back);
    EXPECT_EQ(sci, std::vector<bool>{true});
    // A version-1 section (no GPE block) restores with nothing pending.
    snapshot::ByteWriter v1;
    v1.u32(0);
    v1.u32(AcpiPm::kSciEnable);
    snapshot::ByteReader r1(v1.bytes(), "acpi-pm");
    auto old = AcpiPmCodec::decode(r1, 1);
    ASSERT_TRUE(old);
    EXPECT_EQ(old->gpe_status, 0);
    EXPECT_EQ(r1.remaining(), 0u);
}

} // namespace
} // namespace brood::devices

namespace brood::devices {
namespace {

// Through the port bus, as a guest reaches it: GPE0 at 0x620, PM1 at 0x600.
TEST(AcpiPmOnTheBus, GpeAndPmRegistersAnswerAtTheirFadtPorts) {
    std::vector<bool> sci;
    AcpiPm pm{[](GuestRequest) {}, [&](bool level) { sci.push_back(level); }};
    IoBus bus;
    for (const auto& r : AcpiPm::kPorts) bus.add(r.base, r.length, &pm);
    uint8_t one = 1;
    ASSERT_TRUE(bus.write(0x621, std::span<const uint8_t>(&one, 1))); // GPE0 enable
    pm.raise_gpe(0);
    uint8_t status = 0;
    ASSERT_TRUE(bus.read(0x620, std::span<uint8_t>(&status, 1)));
    EXPECT_EQ(status, 1);
    EXPECT_EQ(sci, std::vector<bool>{true});
    uint8_t pm1_status[2] = {0xaa, 0xaa};
    ASSERT_TRUE(bus.read(0x600, std::span<uint8_t>(pm1_status, 2)));
    EXPECT_EQ(pm1_status[0], 0); // PM1 has nothing pending: the GPE is not there
    ASSERT_TRUE(bus.write(0x620, std::span<const uint8_t>(&one, 1)));
    EXPECT_EQ(sci, (std::vector<bool>{true, false}));
}

} // namespace
} // namespace brood::devices
