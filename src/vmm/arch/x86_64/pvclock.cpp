#include "vmm/arch/x86_64/pvclock.hpp"

#include <cstring>

namespace brood::x86 {
namespace {

template <typename T>
T field(std::span<const uint8_t, kPvclockRecordSize> record, size_t offset) {
    T value;
    std::memcpy(&value, record.data() + offset, sizeof(T));
    return value;
}

// struct pvclock_vcpu_time_info: version, pad, tsc_timestamp, system_time,
// tsc_to_system_mul, tsc_shift, flags, pad.
constexpr size_t kVersion = 0, kTscTimestamp = 8, kSystemTime = 16, kMul = 24, kShift = 28;
constexpr int kMaxShift = 31;

} // namespace

std::optional<uint64_t> pvclock_record_address(uint64_t system_time_msr) {
    if ((system_time_msr & 1) == 0) return std::nullopt;
    return system_time_msr & ~uint64_t{1};
}

std::optional<uint64_t> kvmclock_at(std::span<const uint8_t, kPvclockRecordSize> record, uint64_t tsc) {
    if (field<uint32_t>(record, kVersion) & 1) return std::nullopt;
    const auto timestamp = field<uint64_t>(record, kTscTimestamp);
    const auto shift = field<int8_t>(record, kShift);
    if (tsc < timestamp || shift > kMaxShift || shift < -kMaxShift) return std::nullopt;
    unsigned __int128 delta = tsc - timestamp;
    delta = shift >= 0 ? delta << shift : delta >> -shift;
    const unsigned __int128 ns = (delta * field<uint32_t>(record, kMul)) >> 32;
    const unsigned __int128 clock = ns + field<uint64_t>(record, kSystemTime);
    if (clock > UINT64_MAX) return std::nullopt;
    return static_cast<uint64_t>(clock);
}

} // namespace brood::x86
