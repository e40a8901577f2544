// brood's CPUID policy: what every vCPU sees, derived from what KVM supports
// by allowlists, so that hosts of one CPU model show guests the same CPU and a
// snapshot taken on one can resume on another. docs/boot.md lists the bits.
#pragma once

#include <cstdint>

#include "vmm/arch/x86_64/cpu_state.hpp"

namespace brood::x86 {

inline constexpr uint32_t kCpuidFlagSignificantIndex = 1; // KVM_CPUID_FLAG_SIGNIFCANT_INDEX

namespace cpuid_allow {

constexpr uint32_t bit(unsigned n) { return uint32_t{1} << n; }

// Leaf 1 ECX: SSE3 PCLMULQDQ SSSE3 FMA CX16 PCID SSE4.1 SSE4.2 x2APIC MOVBE
// POPCNT TSC-deadline AES XSAVE AVX F16C RDRAND. (HYPERVISOR, bit 31, is set.)
inline constexpr uint32_t kLeaf1Ecx = bit(0) | bit(1) | bit(9) | bit(12) | bit(13) | bit(17) |
                                      bit(19) | bit(20) | bit(21) | bit(22) | bit(23) | bit(24) |
                                      bit(25) | bit(26) | bit(28) | bit(29) | bit(30);
// Leaf 1 EDX: FPU VME DE PSE TSC MSR PAE MCE CX8 APIC SEP MTRR PGE MCA CMOV PAT
// PSE36 CLFSH MMX FXSR SSE SSE2. (HTT, bit 28, is set when there are 2+ vCPUs.)
inline constexpr uint32_t kLeaf1Edx = bit(0) | bit(1) | bit(2) | bit(3) | bit(4) | bit(5) |
                                      bit(6) | bit(7) | bit(8) | bit(9) | bit(11) | bit(12) |
                                      bit(13) | bit(14) | bit(15) | bit(16) | bit(17) | bit(19) |
                                      bit(23) | bit(24) | bit(25) | bit(26);
// Leaf 6 EAX: ARAT only (the LAPIC timer keeps running in idle states).
inline constexpr uint32_t kLeaf6Eax = bit(2);
// Leaf 7.0 EBX: FSGSBASE TSC_ADJUST BMI1 AVX2 FDP_EXCPTN_ONLY SMEP BMI2 ERMS
// INVPCID FPU-CS/DS-deprecation AVX512F AVX512DQ RDSEED ADX SMAP AVX512_IFMA
// CLFLUSHOPT CLWB AVX512PF AVX512ER AVX512CD SHA AVX512BW AVX512VL.
inline constexpr uint32_t kLeaf7Ebx = bit(0) | bit(1) | bit(3) | bit(5) | bit(6) | bit(7) |
                                      bit(8) | bit(9) | bit(10) | bit(13) | bit(16) | bit(17) |
                                      bit(18) | bit(19) | bit(20) | bit(21) | bit(23) | bit(24) |
                                      bit(26) | bit(27) | bit(28) | bit(29) | bit(30) | bit(31);
// Leaf 7.0 ECX: PREFETCHWT1 AVX512_VBMI UMIP AVX512_VBMI2 GFNI VAES VPCLMULQDQ
// AVX512_VNNI AVX512_BITALG AVX512_VPOPCNTDQ RDPID CLDEMOTE MOVDIRI MOVDIR64B.
inline constexpr uint32_t kLeaf7Ecx = bit(0) | bit(1) | bit(2) | bit(6) | bit(8) | bit(9) |
                                      bit(10) | bit(11) | bit(12) | bit(14) | bit(22) | bit(25) |
                                      bit(27) | bit(28);
// Leaf 7.0 EDX: AVX512_4VNNIW AVX512_4FMAPS FSRM AVX512_VP2INTERSECT MD_CLEAR
// SERIALIZE AVX512_FP16 SPEC_CTRL(IBRS/IBPB) STIBP L1D_FLUSH SSBD.
inline constexpr uint32_t kLeaf7Edx = bit(2) | bit(3) | bit(4) | bit(8) | bit(10) | bit(14) |
                                      bit(23) | bit(26) | bit(27) | bit(28) | bit(31);
// Leaf 7.1 EAX: AVX-VNNI AVX512_BF16 fast-zero-MOVSB fast-short-STOSB fast-short-CMPSB.
inline constexpr uint32_t kLeaf7Sub1Eax = bit(4) | bit(5) | bit(10) | bit(11) | bit(12);
// Leaf 0xD.0 EAX (XCR0): x87 SSE AVX opmask ZMM_Hi256 Hi16_ZMM.
inline constexpr uint32_t kXcr0 = bit(0) | bit(1) | bit(2) | bit(5) | bit(6) | bit(7);
// Leaf 0xD.1 EAX: XSAVEOPT XSAVEC XGETBV-ECX1 XSAVES (no supervisor states: XSS = 0).
inline constexpr uint32_t kLeafDSub1Eax = bit(0) | bit(1) | bit(2) | bit(3);
// Leaf 0x40000001 EAX: CLOCKSOURCE NOP_IO_DELAY CLOCKSOURCE2 CLOCKSOURCE_STABLE_BIT.
inline constexpr uint32_t kKvmFeatures = bit(0) | bit(1) | bit(3) | bit(24);
// Leaf 0x80000001 ECX: LAHF_LM ABM/LZCNT SSE4A MisalignSSE PREFETCHW XOP FMA4 TBM TOPOEXT.
inline constexpr uint32_t kExt1Ecx = bit(0) | bit(5) | bit(6) | bit(7) | bit(8) | bit(11) |
                                     bit(16) | bit(21) | bit(22);
// Leaf 0x80000001 EDX: SYSCALL NX MMXEXT FFXSR PDPE1GB RDTSCP LM, plus the AMD
// copies of allowed leaf 1 EDX bits (FPU..PSE36, MMX, FXSR).
inline constexpr uint32_t kExt1Edx = (kLeaf1Edx & 0x0183F3FF) | bit(11) | bit(20) | bit(22) |
                                     bit(25) | bit(26) | bit(27) | bit(29);
// Leaf 0x80000007 EDX: invariant TSC.
inline constexpr uint32_t kExt7Edx = bit(8);

} // namespace cpuid_allow

// The CPUID table for vCPU `vcpu_index` of `vcpu_count`, from the table
// KVM_GET_SUPPORTED_CPUID returned. Pure and deterministic; applying it to its
// own output changes nothing. Leaves not in `supported` stay absent.
CpuidTable apply_cpuid_policy(const CpuidTable& supported, uint32_t vcpu_index,
                              uint32_t vcpu_count);

// The entry for (function, index), or nullptr.
const CpuidEntry* find_cpuid(const CpuidTable& table, uint32_t function, uint32_t index = 0);

} // namespace brood::x86
