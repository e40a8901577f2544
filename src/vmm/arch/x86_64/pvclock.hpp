// kvmclock as the guest itself reads it: KVM keeps a pvclock time record
// (struct pvclock_vcpu_time_info) in guest memory, where the guest's
// system-time MSR points, and the guest turns its TSC into nanoseconds
// with it. A restore sets KVM's clock from it, so that the guest's TSC
// and kvmclock resume together (docs/snapshot-format.md, "Clock").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace brood::x86 {

inline constexpr size_t kPvclockRecordSize = 32;

// The guest-physical address of the record, when the system-time MSR's
// value has the guest's enable bit (bit 0).
std::optional<uint64_t> pvclock_record_address(uint64_t system_time_msr);

// The kvmclock, in ns, that `record` gives at guest TSC `tsc`: nothing
// when KVM was in the middle of updating it (odd version), or when its
// fields make no sense (a TSC before its timestamp, a shift beyond ±31, a
// result past 64 bits). The record is guest memory: any bytes may be there.
std::optional<uint64_t> kvmclock_at(std::span<const uint8_t, kPvclockRecordSize> record, uint64_t tsc);

} // namespace brood::x86
