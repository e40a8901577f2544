// The kvmclock a guest reads from its pvclock record (arch/x86_64/pvclock.hpp).
#include <gtest/gtest.h>

#include <array>
#include <cstring>

#include "vmm/arch/x86_64/pvclock.hpp"

namespace brood::x86 {
namespace {

using Record = std::array<uint8_t, kPvclockRecordSize>;

Record record(uint32_t version, uint64_t tsc_timestamp, uint64_t system_time, uint32_t mul, int8_t shift) {
    Record r{};
    std::memcpy(r.data() + 0, &version, 4);
    std::memcpy(r.data() + 8, &tsc_timestamp, 8);
    std::memcpy(r.data() + 16, &system_time, 8);
    std::memcpy(r.data() + 24, &mul, 4);
    std::memcpy(r.data() + 28, &shift, 1);
    return r;
}

TEST(Pvclock, TheClockIsSystemTimePlusTheScaledTscSinceTheTimestamp) {
    // A 2 GHz TSC: mul = 2^31 with shift 0 halves the cycles.
    auto r = record(4, 1'000'000, 5'000'000'000, 1u << 31, 0);
    EXPECT_EQ(kvmclock_at(r, 1'000'000), 5'000'000'000u);
    EXPECT_EQ(kvmclock_at(r, 3'000'000), 5'001'000'000u);
    // The same with shift -1 and mul 2^32 - 1: within a nanosecond.
    auto shifted = record(4, 1'000'000, 5'000'000'000, 0xffffffffu, -1);
    EXPECT_NEAR(static_cast<double>(*kvmclock_at(shifted, 3'000'000)), 5'001'000'000.0, 1.0);
    // A 500 MHz TSC: shift 1 doubles the cycles.
    auto slow = record(2, 0, 0, 1u << 31, 1);
    EXPECT_EQ(kvmclock_at(slow, 500'000'000), 500'000'000u);
}

TEST(Pvclock, ARecordBeingUpdatedOrNonsenseGivesNothing) {
    EXPECT_FALSE(kvmclock_at(record(5, 0, 0, 1u << 31, 0), 10)) << "odd version: KVM was writing it";
    EXPECT_FALSE(kvmclock_at(record(4, 100, 0, 1u << 31, 0), 99)) << "a TSC before the timestamp";
    EXPECT_FALSE(kvmclock_at(record(4, 0, 0, 1u << 31, 32), 10)) << "shift beyond 31";
    EXPECT_FALSE(kvmclock_at(record(4, 0, 0, 1u << 31, -32), 10)) << "shift beyond -31";
    EXPECT_FALSE(kvmclock_at(record(4, 0, UINT64_MAX, 0xffffffffu, 31), UINT64_MAX)) << "past 64 bits";
    // 2^40 cycles shifted by 20 and scaled by just under 1: just under 2^60 ns.
    auto large = kvmclock_at(record(4, 0, 0, 0xffffffffu, 20), uint64_t{1} << 40);
    ASSERT_TRUE(large) << "large, still within 64 bits";
    EXPECT_EQ(*large, (uint64_t{1} << 60) - (uint64_t{1} << 28));
}

TEST(Pvclock, TheMsrSaysWhereTheRecordIsOnceEnabled) {
    EXPECT_EQ(pvclock_record_address(0x12345601), 0x12345600u);
    EXPECT_FALSE(pvclock_record_address(0x12345600)) << "bit 0 clear: kvmclock off";
}

} // namespace
} // namespace brood::x86
