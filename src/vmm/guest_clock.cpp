#include "vmm/guest_clock.hpp"

#include <array>

#include "vmm/arch/x86_64/msr.hpp"
#include "vmm/arch/x86_64/pvclock.hpp"

namespace brood {

std::optional<uint64_t> guest_kvmclock(kvm::Vcpu& vcpu, const GuestMemory& memory) {
    const auto& tsc = vcpu.tsc_written();
    if (!tsc) return std::nullopt;
    for (uint32_t msr : {x86::msr::kKvmSystemTimeNew, x86::msr::kKvmSystemTime}) {
        auto value = vcpu.read_msr(msr);
        if (!value) continue;
        auto address = x86::pvclock_record_address(*value);
        if (!address) continue;
        std::array<uint8_t, x86::kPvclockRecordSize> record{};
        if (!memory.read(*address, record)) return std::nullopt;
        auto at_write = x86::kvmclock_at(record, tsc->value);
        if (!at_write) return std::nullopt;
        const auto since = std::chrono::steady_clock::now() - tsc->at;
        return *at_write + static_cast<uint64_t>(std::chrono::nanoseconds(since).count());
    }
    return std::nullopt;
}

} // namespace brood
