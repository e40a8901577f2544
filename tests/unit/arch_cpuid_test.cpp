#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "vmm/arch/x86_64/cpuid.hpp"

namespace brood::x86 {
namespace {

constexpr uint32_t bit(unsigned n) { return uint32_t{1} << n; }

// An Intel-like KVM_GET_SUPPORTED_CPUID answer with every feature bit set,
// so that whatever survives is exactly the allowlist.
CpuidTable all_ones_intel() {
    const uint32_t ones = 0xFFFFFFFF;
    return {
        {0x0, 0, 0, 0x1F, 0x756E6547, 0x6C65746E, 0x49656E69}, // GenuineIntel
        {0x1, 0, 0, 0x000906EA, ones, ones, ones},
        {0x2, 0, 6, 0x00FEFF01, 0, 0, 0},
        {0x4, 0, 1, 0x1C004121, 0x01C0003F, 0x3F, 0}, // L1d
        {0x4, 1, 1, 0x1C004122, 0x01C0003F, 0x3F, 0}, // L1i
        {0x4, 2, 1, 0x1C004143, 0x03C0003F, 0x3FF, 0},
        {0x4, 3, 1, 0x1C03C163, 0x03C0003F, 0x2FFF, 6}, // L3
        {0x4, 4, 1, 0, 0, 0, 0},
        {0x5, 0, 0, 0x40, 0x40, 3, 0x11142120},
        {0x6, 0, 0, ones, ones, ones, ones},
        {0x7, 0, 1, 2, ones, ones, ones},
        {0x7, 1, 1, ones, ones, ones, ones},
        {0x7, 2, 1, 0, 0, 0, ones},
        {0xA, 0, 0, 0x07300404, 0, 0, 0x603},
        {0xB, 0, 1, 1, 2, 0x100, 7},
        {0xB, 1, 1, 4, 12, 0x201, 7},
        {0xD, 0, 1, 0x2FF, 0xA88, 0xA88, 0},
        {0xD, 1, 1, 0xF, 0x988, 0x100, 0},
        {0xD, 2, 1, 0x100, 0x240, 0, 0},
        {0xD, 3, 1, 0x40, 0x3C0, 0, 0},
        {0xD, 4, 1, 0x40, 0x400, 0, 0},
        {0xD, 5, 1, 0x40, 0x440, 0, 0},
        {0xD, 6, 1, 0x200, 0x480, 0, 0},
        {0xD, 7, 1, 0x400, 0x680, 0, 0},
        {0xD, 9, 1, 0x8, 0xA80, 0, 0},
        {0x12, 0, 1, 1, 0, 0, 0x1F},
        {0x14, 0, 1, 1, 0xF, 7, 0},
        {0x1F, 0, 1, 1, 2, 0x100, 7},
        {0x1F, 1, 1, 4, 12, 0x201, 7},
        {0x40000000, 0, 0, 0x40000001, 0x4B4D564B, 0x564B4D56, 0x4D},
        {0x40000001, 0, 0, 0x01FFFFFF, 0, 0, 1},
        {0x80000000, 0, 0, 0x80000008, 0, 0, 0},
        {0x80000001, 0, 0, 0, 0, ones, ones},
        {0x80000002, 0, 0, 0x65746E49, 0x2952286C, 0x726F4320, 0x4D542865},
        {0x80000006, 0, 0, 0, 0, 0x01006040, 0},
        {0x80000007, 0, 0, 0, 0, 0, ones},
        {0x80000008, 0, 0, 0x3027, 0, 0, 0},
    };
}

// KVM_GET_SUPPORTED_CPUID-like table of an AMD EPYC (from a real host).
CpuidTable amd_epyc() {
    return {
        {0x0, 0, 0, 0x10, 0x68747541, 0x444d4163, 0x69746e65},
        {0x1, 0, 0, 0xa10f11, 0x1020800, 0xfffa3203, 0x178bfbff},
        {0x6, 0, 0, 0x4, 0x0, 0x0, 0x0},
        {0x7, 0, 1, 0x1, 0xf1bf07ab, 0x405fc6, 0x10},
        {0x7, 1, 1, 0x20, 0x0, 0x0, 0x0},
        {0xd, 0, 1, 0xe7, 0x980, 0x980, 0x0},
        {0xd, 1, 1, 0xf, 0x9a8, 0x1800, 0x0},
        {0xd, 2, 1, 0x100, 0x240, 0x0, 0x0},
        {0xd, 5, 1, 0x40, 0x340, 0x0, 0x0},
        {0xd, 6, 1, 0x200, 0x380, 0x0, 0x0},
        {0xd, 7, 1, 0x400, 0x580, 0x0, 0x0},
        {0xd, 11, 1, 0x10, 0x0, 0x1, 0x0},
        {0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d},
        {0x40000001, 0, 0, 0x1007efb, 0x0, 0x0, 0x0},
        {0x80000000, 0, 0, 0x80000021, 0x68747541, 0x444d4163, 0x69746e65},
        {0x80000001, 0, 0, 0xa10f11, 0x40000000, 0x4003f3, 0x2fd3fbff},
        {0x80000005, 0, 0, 0xff48ff40, 0xff48ff40, 0x20080140, 0x20080140},
        {0x80000006, 0, 0, 0x5c002200, 0x6c004200, 0x4006140, 0xa009140},
        {0x80000007, 0, 0, 0x0, 0x0, 0x0, 0x100},
        {0x80000008, 0, 0, 0x303030, 0x50020005, 0x7001, 0x0},
        {0x8000001d, 0, 1, 0x121, 0x1c0003f, 0x3f, 0x0},
        {0x8000001d, 3, 1, 0x4163, 0x3c0003f, 0x7fff, 0x1},
        {0x8000001d, 4, 1, 0x0, 0x0, 0x0, 0x0},
        {0x8000001e, 0, 0, 0x1, 0x1, 0x0, 0x0},
        {0x8000001f, 0, 0, 0x1, 0x0, 0x0, 0x0},
        {0x80000021, 0, 0, 0x204, 0x0, 0x86, 0x0},
    };
}

const CpuidEntry& get(const CpuidTable& t, uint32_t fn, uint32_t idx = 0) {
    const CpuidEntry* e = find_cpuid(t, fn, idx);
    if (!e) {
        ADD_FAILURE() << "missing leaf " << std::hex << fn << "." << idx;
        static const CpuidEntry none{};
        return none;
    }
    return *e;
}

bool same(const CpuidTable& a, const CpuidTable& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
        return x.function == y.function && x.index == y.index && x.flags == y.flags &&
               x.eax == y.eax && x.ebx == y.ebx && x.ecx == y.ecx && x.edx == y.edx;
    });
}

TEST(CpuidPolicy, Leaf1KeepsOnlyTheAllowlistAndSetsHypervisor) {
    auto out = apply_cpuid_policy(all_ones_intel(), 0, 1);
    const auto& l1 = get(out, 1);
    EXPECT_EQ(l1.ecx, cpuid_allow::kLeaf1Ecx | bit(31));
    EXPECT_EQ(l1.edx, cpuid_allow::kLeaf1Edx); // one vCPU: no HTT
    for (unsigned b : {2u, 3u, 4u, 5u, 6u, 7u, 8u, 14u, 15u, 27u})
        EXPECT_FALSE(l1.ecx & bit(b)) << "leaf 1 ECX bit " << b;
    EXPECT_TRUE(l1.ecx & bit(24)) << "TSC-deadline";
    EXPECT_EQ(l1.eax, 0x000906EAu);
}

TEST(CpuidPolicy, Leaf7DropsArchCapabilitiesTsxMpxSgxPtWaitpkgPku) {
    auto out = apply_cpuid_policy(all_ones_intel(), 0, 1);
    const auto& l7 = get(out, 7, 0);
    EXPECT_EQ(l7.eax, 1u); // subleaf 2 is gone
    EXPECT_EQ(l7.ebx, cpuid_allow::kLeaf7Ebx);
    EXPECT_EQ(l7.ecx, cpuid_allow::kLeaf7Ecx);
    EXPECT_EQ(l7.edx, cpuid_allow::kLeaf7Edx);
    EXPECT_FALSE(l7.edx & bit(29)) << "ARCH_CAPABILITIES";
    EXPECT_FALSE(l7.edx & bit(30)) << "CORE_CAPABILITIES";
    EXPECT_TRUE(l7.edx & bit(10)) << "MD_CLEAR";
    for (unsigned b : {2u, 4u, 11u, 14u, 25u}) EXPECT_FALSE(l7.ebx & bit(b)) << "leaf 7 EBX bit " << b;
    for (unsigned b : {3u, 4u, 5u}) EXPECT_FALSE(l7.ecx & bit(b)) << "leaf 7 ECX bit " << b;
    EXPECT_EQ(get(out, 7, 1).eax, cpuid_allow::kLeaf7Sub1Eax);
    EXPECT_EQ(find_cpuid(out, 7, 2), nullptr);
}

TEST(CpuidPolicy, PowerManagementPmuPtAndSgxLeavesAreGone) {
    auto out = apply_cpuid_policy(all_ones_intel(), 0, 1);
    EXPECT_EQ(get(out, 6).eax, bit(2)); // ARAT only
    EXPECT_EQ(get(out, 6).ecx, 0u);
    const auto& pmu = get(out, 0xA);
    EXPECT_EQ(pmu.eax | pmu.ebx | pmu.ecx | pmu.edx, 0u);
    for (uint32_t leaf : {0x5u, 0x12u, 0x14u}) EXPECT_EQ(find_cpuid(out, leaf), nullptr) << leaf;
}

TEST(CpuidPolicy, XsaveOffersOnlyAllowedComponentsConsistently) {
    auto out = apply_cpuid_policy(all_ones_intel(), 0, 1);
    EXPECT_EQ(get(out, 0xD, 0).eax, cpuid_allow::kXcr0); // no MPX (3,4) or PKRU (9)
    EXPECT_EQ(get(out, 0xD, 0).edx, 0u);
    EXPECT_EQ(get(out, 0xD, 0).ecx, 0x680u + 0x400u); // Hi16_ZMM is the last component
    EXPECT_EQ(get(out, 0xD, 1).ecx, 0u);               // no supervisor states
    for (uint32_t sub : {3u, 4u, 9u}) EXPECT_EQ(find_cpuid(out, 0xD, sub), nullptr) << sub;
    for (uint32_t sub : {2u, 5u, 6u, 7u}) EXPECT_NE(find_cpuid(out, 0xD, sub), nullptr) << sub;
}

TEST(CpuidPolicy, Avx512WithoutItsStateComponentsIsCleared) {
    auto supported = all_ones_intel();
    for (auto& e : supported)
        if (e.function == 0xD && e.index == 0) e.eax = 0x7; // x87 SSE AVX only
    auto out = apply_cpuid_policy(supported, 0, 1);
    EXPECT_FALSE(get(out, 7).ebx & bit(16)) << "AVX512F";
    EXPECT_TRUE(get(out, 7).ebx & bit(5)) << "AVX2";
    EXPECT_FALSE(get(out, 7, 1).eax & bit(5)) << "AVX512_BF16";
    EXPECT_EQ(find_cpuid(out, 0xD, 5), nullptr);
}

TEST(CpuidPolicy, NoXsaveLeafMeansNoXsaveAndNoAvx) {
    auto supported = all_ones_intel();
    std::erase_if(supported, [](const CpuidEntry& e) { return e.function == 0xD; });
    auto out = apply_cpuid_policy(supported, 0, 1);
    EXPECT_FALSE(get(out, 1).ecx & (bit(26) | bit(28) | bit(12) | bit(29)));
    EXPECT_FALSE(get(out, 7).ebx & (bit(5) | bit(16)));
}

TEST(CpuidPolicy, EachVcpuGetsItsOwnApicIdAndAConsistentTopology) {
    constexpr uint32_t kCount = 6;
    for (uint32_t i = 0; i < kCount; i++) {
        auto out = apply_cpuid_policy(all_ones_intel(), i, kCount);
        const auto& l1 = get(out, 1);
        EXPECT_EQ(l1.ebx >> 24, i);
        EXPECT_EQ((l1.ebx >> 16) & 0xFF, kCount);
        EXPECT_EQ((l1.ebx >> 8) & 0xFF, 8u); // 64-byte CLFLUSH
        EXPECT_TRUE(l1.edx & bit(28)) << "HTT with several vCPUs";
        for (uint32_t leaf : {0xBu, 0x1Fu}) {
            const auto& smt = get(out, leaf, 0);
            const auto& core = get(out, leaf, 1);
            const auto& end = get(out, leaf, 2);
            EXPECT_EQ(smt.eax, 0u);
            EXPECT_EQ(smt.ebx, 1u);
            EXPECT_EQ(smt.ecx, 0x100u);
            EXPECT_EQ(core.eax, 3u); // 6 cores need 3 APIC-id bits
            EXPECT_EQ(core.ebx, kCount);
            EXPECT_EQ(core.ecx, 0x201u);
            EXPECT_EQ((end.ecx >> 8) & 0xFF, 0u);
            for (const auto* e : {&smt, &core, &end}) {
                EXPECT_EQ(e->edx, i);
                EXPECT_EQ(e->flags, kCpuidFlagSignificantIndex);
            }
        }
        EXPECT_EQ(get(out, 4, 0).eax >> 26, kCount - 1);
        EXPECT_EQ((get(out, 4, 0).eax >> 14) & 0xFFF, 0u); // L1d: one core
        EXPECT_EQ((get(out, 4, 3).eax >> 14) & 0xFFF, kCount - 1); // L3: the package
        EXPECT_EQ(get(out, 4, 3).eax & 0x3FFF, 0x0163u); // cache description kept
    }
}

TEST(CpuidPolicy, KvmLeavesKeepOnlyTheChosenParavirtFeatures) {
    auto out = apply_cpuid_policy(all_ones_intel(), 0, 1);
    const auto& sig = get(out, 0x40000000);
    EXPECT_EQ(sig.eax, 0x40000001u);
    char name[13] = {};
    std::memcpy(name, &sig.ebx, 4);
    std::memcpy(name + 4, &sig.ecx, 4);
    std::memcpy(name + 8, &sig.edx, 4);
    EXPECT_STREQ(name, "KVMKVMKVM");
    const auto& features = get(out, 0x40000001);
    EXPECT_EQ(features.eax, bit(0) | bit(1) | bit(3) | bit(24));
    EXPECT_EQ(features.edx, 0u);
}

TEST(CpuidPolicy, ExtendedLeavesAreFiltered) {
    auto out = apply_cpuid_policy(all_ones_intel(), 0, 1);
    EXPECT_EQ(get(out, 0x80000001).ecx, cpuid_allow::kExt1Ecx);
    EXPECT_TRUE(get(out, 0x80000001).edx & (bit(29) | bit(20) | bit(11)));
    EXPECT_FALSE(get(out, 0x80000001).ecx & bit(2)) << "SVM";
    EXPECT_EQ(get(out, 0x80000007).edx, bit(8));
    EXPECT_EQ(get(out, 0x80000008).eax, 0x3027u);
    EXPECT_EQ(get(out, 0x80000008).ecx, 0u);
    EXPECT_EQ(get(out, 0x80000002).eax, 0x65746E49u); // brand string kept
}

TEST(CpuidPolicy, AmdTopologyLeavesFollowTheVcpu) {
    auto out = apply_cpuid_policy(amd_epyc(), 2, 4);
    EXPECT_EQ(get(out, 0x8000001E).eax, 2u);
    EXPECT_EQ(get(out, 0x8000001E).ebx, 2u);
    EXPECT_EQ(get(out, 0x80000008).ecx & 0xFF, 3u);
    EXPECT_EQ((get(out, 0x80000008).ecx >> 12) & 0xF, 2u);
    EXPECT_EQ(get(out, 0x80000008).eax, 0x303030u);
    EXPECT_EQ((get(out, 0x8000001D, 3).eax >> 14) & 0xFFF, 3u);
    EXPECT_EQ((get(out, 0x8000001D, 0).eax >> 14) & 0xFFF, 0u);
    EXPECT_EQ(find_cpuid(out, 0x8000001F), nullptr) << "SEV";
    EXPECT_EQ(get(out, 0x80000000).eax, 0x8000001Eu);
    EXPECT_EQ(get(out, 0).eax, 0xDu);
    EXPECT_EQ(get(out, 1).ebx >> 24, 2u);
    EXPECT_TRUE(get(out, 1).ecx & bit(31));
    EXPECT_EQ(get(out, 0x40000001).eax, bit(0) | bit(1) | bit(3) | bit(24));
    EXPECT_EQ(get(out, 0xD, 0).ecx, 0x580u + 0x400u);
    EXPECT_EQ(find_cpuid(out, 0xD, 11), nullptr) << "CET state";
}

TEST(CpuidPolicy, IsIdempotentAndIndependentOfInputOrder) {
    for (const auto& supported : {all_ones_intel(), amd_epyc()}) {
        for (uint32_t count : {1u, 2u, 7u}) {
            for (uint32_t i = 0; i < count; i++) {
                auto once = apply_cpuid_policy(supported, i, count);
                EXPECT_TRUE(same(once, apply_cpuid_policy(once, i, count)));
                auto shuffled = supported;
                std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(i * 31 + count));
                EXPECT_TRUE(same(once, apply_cpuid_policy(shuffled, i, count)));
            }
        }
    }
}

TEST(CpuidPolicy, MaxBasicLeafFollowsWhatIsLeft) {
    auto out = apply_cpuid_policy(all_ones_intel(), 0, 1);
    EXPECT_EQ(get(out, 0).eax, 0x1Fu);
    auto supported = all_ones_intel();
    std::erase_if(supported, [](const CpuidEntry& e) { return e.function >= 0xB && e.function < 0x40000000; });
    out = apply_cpuid_policy(supported, 0, 1);
    EXPECT_EQ(get(out, 0).eax, 0xAu);
    for (const auto& e : out) EXPECT_TRUE(e.function <= 0xA || e.function >= 0x40000000);
}

TEST(CpuidPolicy, MissingLeavesAreTolerated) {
    EXPECT_TRUE(apply_cpuid_policy({}, 0, 1).empty());
    auto only_basic = apply_cpuid_policy({{0x0, 0, 0, 1, 0, 0, 0}, {0x1, 0, 0, 0x806F8, 0, ~0u, ~0u}}, 1, 2);
    ASSERT_EQ(only_basic.size(), 2u);
    EXPECT_EQ(get(only_basic, 1).ebx >> 24, 1u);
    EXPECT_EQ(find_cpuid(only_basic, 0xB), nullptr);
    EXPECT_EQ(find_cpuid(only_basic, 0x40000000), nullptr);
    // vcpu_count 0 is treated as 1 rather than underflowing topology fields.
    auto zero = apply_cpuid_policy(all_ones_intel(), 0, 0);
    EXPECT_EQ(get(zero, 4, 0).eax >> 26, 0u);
}

} // namespace
} // namespace brood::x86
