// Model-specific registers: the values a freshly booted vCPU starts with and
// the set a snapshot must carry.
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/arch/x86_64/cpu_state.hpp"

namespace brood::x86::msr {

inline constexpr uint32_t kTsc = 0x10;
inline constexpr uint32_t kKvmWallClock = 0x11;   // legacy kvmclock
inline constexpr uint32_t kKvmSystemTime = 0x12;  // legacy kvmclock
inline constexpr uint32_t kTscAdjust = 0x3B;
inline constexpr uint32_t kSpecCtrl = 0x48;
inline constexpr uint32_t kSysenterCs = 0x174;
inline constexpr uint32_t kSysenterEsp = 0x175;
inline constexpr uint32_t kSysenterEip = 0x176;
inline constexpr uint32_t kMiscEnable = 0x1A0;
inline constexpr uint32_t kMtrrPhysBase0 = 0x200; // base/mask pairs up to 0x20F
inline constexpr uint32_t kMtrrFix64K00000 = 0x250;
inline constexpr uint32_t kMtrrFix16K80000 = 0x258;
inline constexpr uint32_t kMtrrFix16KA0000 = 0x259;
inline constexpr uint32_t kMtrrFix4KC0000 = 0x268; // through 0x26F
inline constexpr uint32_t kPat = 0x277;
inline constexpr uint32_t kMtrrDefType = 0x2FF;
inline constexpr uint32_t kTscDeadline = 0x6E0;
inline constexpr uint32_t kXss = 0xDA0;
inline constexpr uint32_t kStar = 0xC0000081;
inline constexpr uint32_t kLstar = 0xC0000082;
inline constexpr uint32_t kCstar = 0xC0000083;
inline constexpr uint32_t kSfmask = 0xC0000084;
inline constexpr uint32_t kKernelGsBase = 0xC0000102;
inline constexpr uint32_t kTscAux = 0xC0000103;
inline constexpr uint32_t kKvmWallClockNew = 0x4B564D00;
inline constexpr uint32_t kKvmSystemTimeNew = 0x4B564D01;
inline constexpr uint32_t kKvmAsyncPfEn = 0x4B564D02;
inline constexpr uint32_t kKvmStealTime = 0x4B564D03;
inline constexpr uint32_t kKvmPvEoiEn = 0x4B564D04;

inline constexpr uint64_t kMiscEnableFastStrings = 1;
inline constexpr uint64_t kMtrrDefTypeEnable = 1u << 11;
inline constexpr uint64_t kMtrrTypeWriteBack = 6;
inline constexpr uint32_t kVariableMtrrCount = 8; // what KVM emulates

} // namespace brood::x86::msr

namespace brood::x86 {

// MSR values for the boot vCPU: SYSENTER/SYSCALL state and KERNEL_GS_BASE
// cleared, TSC 0, fast strings on, MTRRs enabled with write-back default.
std::vector<MsrEntry> boot_msrs();

// Every MSR a snapshot saves and restores, in restore order. Some may not
// exist on a given host: see snapshot_msrs_for_host().
std::vector<uint32_t> snapshot_msr_indices();

// snapshot_msr_indices() reduced to what this host's KVM can save, given its
// KVM_GET_MSR_INDEX_LIST. The MTRRs stay although KVM never lists them: it
// emulates them for every guest whose CPUID has MTRR, which ours does.
std::vector<uint32_t> snapshot_msrs_for_host(const std::vector<uint32_t>& kvm_index_list);

// MTRRdefType and the fixed and variable range MTRRs.
bool is_mtrr_msr(uint32_t index);

} // namespace brood::x86
