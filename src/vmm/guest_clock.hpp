// kvmclock as the guest reads it, for a restore: the pvclock record KVM
// last wrote into guest memory, where the guest's system-time MSR points
// (arch/x86_64/pvclock.hpp), applied to the TSC the restore wrote into the
// vCPU, plus the time since that write (the TSC has run since). Set as
// KVM's clock before the vCPUs first run, it makes the guest's TSC and
// kvmclock resume together rather than tens of milliseconds apart
// (docs/snapshot-format.md, "Clock", says how close they come).
#pragma once

#include <cstdint>
#include <optional>

#include "vmm/kvm/vcpu.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace brood {

// Nothing before a restore wrote the TSC, when the guest has not enabled
// kvmclock, or when the record (guest memory: any bytes) makes no sense.
std::optional<uint64_t> guest_kvmclock(kvm::Vcpu& vcpu, const GuestMemory& memory);

} // namespace brood
