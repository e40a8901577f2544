#include "vmm/arch/x86_64/msr.hpp"

#include <algorithm>

namespace brood::x86 {

std::vector<MsrEntry> boot_msrs() {
    return {
        {msr::kSysenterCs, 0},
        {msr::kSysenterEsp, 0},
        {msr::kSysenterEip, 0},
        {msr::kStar, 0},
        {msr::kLstar, 0},
        {msr::kCstar, 0},
        {msr::kSfmask, 0},
        {msr::kKernelGsBase, 0},
        {msr::kTsc, 0},
        {msr::kMiscEnable, msr::kMiscEnableFastStrings},
        {msr::kMtrrDefType, msr::kMtrrDefTypeEnable | msr::kMtrrTypeWriteBack},
    };
}

std::vector<uint32_t> snapshot_msr_indices() {
    std::vector<uint32_t> indices;
    for (const auto& entry : boot_msrs()) indices.push_back(entry.index);
    for (uint32_t index : {msr::kPat, msr::kTscAux, msr::kTscAdjust, msr::kTscDeadline,
                           msr::kSpecCtrl, msr::kXss, msr::kMtrrFix64K00000,
                           msr::kMtrrFix16K80000, msr::kMtrrFix16KA0000})
        indices.push_back(index);
    for (uint32_t i = 0; i < 8; i++) indices.push_back(msr::kMtrrFix4KC0000 + i);
    for (uint32_t i = 0; i < 2 * msr::kVariableMtrrCount; i++)
        indices.push_back(msr::kMtrrPhysBase0 + i);
    // kvmclock last: writing the system-time MSR makes KVM read guest memory
    // and the TSC, which are restored by then.
    for (uint32_t index : {msr::kKvmWallClock, msr::kKvmSystemTime, msr::kKvmWallClockNew,
                           msr::kKvmSystemTimeNew, msr::kKvmAsyncPfEn, msr::kKvmStealTime,
                           msr::kKvmPvEoiEn})
        indices.push_back(index);
    return indices;
}

bool is_mtrr_msr(uint32_t index) {
    return index == msr::kMtrrDefType || index == msr::kMtrrFix64K00000 ||
           index == msr::kMtrrFix16K80000 || index == msr::kMtrrFix16KA0000 ||
           (index >= msr::kMtrrFix4KC0000 && index < msr::kMtrrFix4KC0000 + 8) ||
           (index >= msr::kMtrrPhysBase0 && index < msr::kMtrrPhysBase0 + 2 * msr::kVariableMtrrCount);
}

std::vector<uint32_t> snapshot_msrs_for_host(const std::vector<uint32_t>& kvm_index_list) {
    std::vector<uint32_t> out;
    for (uint32_t index : snapshot_msr_indices()) {
        if (is_mtrr_msr(index) ||
            std::find(kvm_index_list.begin(), kvm_index_list.end(), index) != kvm_index_list.end())
            out.push_back(index);
    }
    return out;
}

} // namespace brood::x86
