#include "vmm/arch/x86_64/cpuid.hpp"

#include <algorithm>
#include <cstring>
#include <optional>
#include <tuple>

namespace brood::x86 {

namespace {

using cpuid_allow::bit;

// Bits that depend on an XSAVE state component being enabled in XCR0.
constexpr uint32_t kXcr0Legacy = bit(0) | bit(1); // x87, SSE
constexpr uint32_t kXcr0Avx = bit(2);
constexpr uint32_t kXcr0Avx512 = bit(5) | bit(6) | bit(7);
constexpr uint32_t kLeaf1EcxXsave = bit(26), kLeaf1EcxAvx = bit(28);
constexpr uint32_t kLeaf1EcxAvxFamily = bit(12) | bit(28) | bit(29); // FMA AVX F16C
constexpr uint32_t kLeaf1EcxHypervisor = bit(31);
constexpr uint32_t kLeaf1EdxHtt = bit(28);
constexpr uint32_t kLeaf7EbxAvx2 = bit(5), kLeaf7EbxAvx512F = bit(16);
constexpr uint32_t kLeaf7EbxAvx512 =
    bit(16) | bit(17) | bit(21) | bit(26) | bit(27) | bit(28) | bit(30) | bit(31);
constexpr uint32_t kLeaf7EcxAvx = bit(9) | bit(10); // VAES VPCLMULQDQ (VEX forms)
constexpr uint32_t kLeaf7EcxAvx512 = bit(1) | bit(6) | bit(11) | bit(12) | bit(14);
constexpr uint32_t kLeaf7EdxAvx512 = bit(2) | bit(3) | bit(8) | bit(23);
constexpr uint32_t kLeaf7Sub1EaxAvx = bit(4), kLeaf7Sub1EaxAvx512 = bit(5);
constexpr uint32_t kExt1EcxAvx = bit(11) | bit(16); // XOP FMA4
constexpr uint32_t kXsaveLegacyAreaSize = 512 + 64;  // FXSAVE image + XSAVE header

constexpr uint32_t kKvmSignatureLeaf = 0x40000000, kKvmFeaturesLeaf = 0x40000001;

// Feature words after allowlisting and making them consistent with each other.
struct Features {
    bool amd = false;
    uint32_t l1_ecx = 0, l1_edx = 0;
    uint32_t l7_ebx = 0, l7_ecx = 0, l7_edx = 0, l7s1_eax = 0;
    uint32_t xcr0 = 0;
    uint32_t ext1_ecx = 0, ext1_edx = 0;
};

uint32_t reg_or_zero(const CpuidTable& t, uint32_t fn, uint32_t idx, uint32_t CpuidEntry::*reg) {
    const CpuidEntry* e = find_cpuid(t, fn, idx);
    return e ? e->*reg : 0;
}

bool is_amd_like(const CpuidTable& supported) {
    const CpuidEntry* leaf0 = find_cpuid(supported, 0);
    if (!leaf0) return false;
    char vendor[12];
    std::memcpy(vendor, &leaf0->ebx, 4);
    std::memcpy(vendor + 4, &leaf0->edx, 4);
    std::memcpy(vendor + 8, &leaf0->ecx, 4);
    return std::memcmp(vendor, "AuthenticAMD", 12) == 0 ||
           std::memcmp(vendor, "HygonGenuine", 12) == 0;
}

Features plan_features(const CpuidTable& s) {
    Features f;
    f.amd = is_amd_like(s);
    f.l1_ecx = reg_or_zero(s, 1, 0, &CpuidEntry::ecx) & cpuid_allow::kLeaf1Ecx;
    f.l1_edx = reg_or_zero(s, 1, 0, &CpuidEntry::edx) & cpuid_allow::kLeaf1Edx;
    f.l7_ebx = reg_or_zero(s, 7, 0, &CpuidEntry::ebx) & cpuid_allow::kLeaf7Ebx;
    f.l7_ecx = reg_or_zero(s, 7, 0, &CpuidEntry::ecx) & cpuid_allow::kLeaf7Ecx;
    f.l7_edx = reg_or_zero(s, 7, 0, &CpuidEntry::edx) & cpuid_allow::kLeaf7Edx;
    f.l7s1_eax = reg_or_zero(s, 7, 1, &CpuidEntry::eax) & cpuid_allow::kLeaf7Sub1Eax;
    f.xcr0 = reg_or_zero(s, 0xD, 0, &CpuidEntry::eax) & cpuid_allow::kXcr0;
    f.ext1_ecx = reg_or_zero(s, 0x80000001, 0, &CpuidEntry::ecx) & cpuid_allow::kExt1Ecx;
    f.ext1_edx = reg_or_zero(s, 0x80000001, 0, &CpuidEntry::edx) & cpuid_allow::kExt1Edx;

    // XSAVE needs its leaf and the legacy components; AVX needs XSAVE; the
    // AVX-512 family needs AVX and all three of its state components.
    if (!(f.l1_ecx & kLeaf1EcxXsave) || (f.xcr0 & kXcr0Legacy) != kXcr0Legacy ||
        !find_cpuid(s, 0xD, 1)) {
        f.l1_ecx &= ~kLeaf1EcxXsave;
        f.xcr0 = 0;
    }
    if (!(f.l1_ecx & kLeaf1EcxAvx)) f.xcr0 &= ~(kXcr0Avx | kXcr0Avx512);
    if (!(f.l7_ebx & kLeaf7EbxAvx512F)) f.xcr0 &= ~kXcr0Avx512;
    if ((f.xcr0 & kXcr0Avx512) != kXcr0Avx512) {
        f.xcr0 &= ~kXcr0Avx512;
        f.l7_ebx &= ~kLeaf7EbxAvx512;
        f.l7_ecx &= ~kLeaf7EcxAvx512;
        f.l7_edx &= ~kLeaf7EdxAvx512;
        f.l7s1_eax &= ~kLeaf7Sub1EaxAvx512;
    }
    if (!(f.xcr0 & kXcr0Avx)) {
        f.l1_ecx &= ~kLeaf1EcxAvxFamily;
        f.l7_ebx &= ~kLeaf7EbxAvx2;
        f.l7_ecx &= ~kLeaf7EcxAvx;
        f.l7s1_eax &= ~kLeaf7Sub1EaxAvx;
        f.ext1_ecx &= ~kExt1EcxAvx;
    }
    return f;
}

// Smallest n with (1 << n) >= count: the APIC-id bits one package's cores use.
uint32_t id_bits(uint32_t count) {
    uint32_t n = 0;
    while ((uint64_t{1} << n) < count) n++;
    return n;
}

uint32_t set_field(uint32_t reg, unsigned lo, unsigned width, uint32_t value) {
    uint32_t mask = ((width == 32) ? ~0u : ((1u << width) - 1)) << lo;
    return (reg & ~mask) | ((value << lo) & mask);
}

// Cache-parameter leaves (4, 0x8000001D): which vCPUs share each cache.
// L1/L2 belong to one core; L3 is shared by the whole package.
void set_cache_sharing(CpuidEntry& e, uint32_t vcpu_count) {
    uint32_t level = (e.eax >> 5) & 0x7;
    uint32_t sharing = level >= 3 ? std::min(vcpu_count - 1, 0xFFFu) : 0;
    e.eax = set_field(e.eax, 14, 12, sharing);
}

struct Context {
    const Features& f;
    uint32_t index;
    uint32_t count;
};

std::optional<CpuidEntry> apply_to_entry(CpuidEntry e, const Context& c) {
    const Features& f = c.f;
    switch (e.function) {
    case 0x0: case 0x2: case 0x15: case 0x16:
    case 0x80000000: case 0x80000002: case 0x80000003: case 0x80000004:
    case 0x80000005: case 0x80000006:
        return e;
    case 0x1:
        e.ebx = (c.index << 24) | (std::min(c.count, 255u) << 16) | (8u << 8); // 64-byte CLFLUSH
        e.ecx = f.l1_ecx | kLeaf1EcxHypervisor;
        e.edx = f.l1_edx | (c.count > 1 ? kLeaf1EdxHtt : 0);
        return e;
    case 0x4:
        if ((e.eax & 0x1F) == 0) return e; // no more caches
        e.eax = set_field(e.eax, 26, 6, std::min(c.count - 1, 63u));
        set_cache_sharing(e, c.count);
        return e;
    case 0x6:
        return CpuidEntry{e.function, e.index, e.flags, e.eax & cpuid_allow::kLeaf6Eax, 0, 0, 0};
    case 0x7:
        if (e.index == 0)
            return CpuidEntry{e.function, 0, e.flags, std::min(e.eax, 1u), f.l7_ebx, f.l7_ecx,
                              f.l7_edx};
        if (e.index == 1) return CpuidEntry{e.function, 1, e.flags, f.l7s1_eax, 0, 0, 0};
        return std::nullopt;
    case 0xA: // no PMU
        return CpuidEntry{e.function, e.index, e.flags, 0, 0, 0, 0};
    case 0xD:
        if (!f.xcr0) return std::nullopt;
        if (e.index == 0) {
            e.eax = f.xcr0;
            e.edx = 0;
        } else if (e.index == 1) {
            e.eax &= cpuid_allow::kLeafDSub1Eax;
            e.ecx = e.edx = 0;
        } else if (e.index >= 32 || !(f.xcr0 & bit(e.index))) {
            return std::nullopt;
        }
        return e;
    case 0x80000001:
        e.ecx = f.ext1_ecx;
        e.edx = f.ext1_edx;
        return e;
    case 0x80000007:
        return CpuidEntry{e.function, e.index, e.flags, 0, 0, 0, e.edx & cpuid_allow::kExt7Edx};
    case 0x80000008: // address sizes and speculation-control bits as KVM reports them
        e.ecx = f.amd ? (std::min(c.count - 1, 255u) | (id_bits(c.count) << 12)) : 0;
        e.edx = 0;
        return e;
    case 0x8000001D:
        if (!f.amd) return std::nullopt;
        if ((e.eax & 0x1F) != 0) set_cache_sharing(e, c.count);
        return e;
    case 0x8000001E: // extended APIC id, core id; one thread per core, one node
        if (!f.amd) return std::nullopt;
        return CpuidEntry{e.function, e.index, e.flags, c.index, c.index & 0xFF, 0, 0};
    default: // everything else (0xB, 0x1F and the KVM leaves are rebuilt below)
        return std::nullopt;
    }
}

// Leaves 0xB / 0x1F: level 0 SMT (one thread per core), level 1 core
// (vcpu_count cores in one package), level 2 invalid.
void add_topology_leaf(CpuidTable& out, uint32_t function, const Context& c) {
    const uint32_t f = kCpuidFlagSignificantIndex;
    out.push_back({function, 0, f, 0, 1, (1u << 8) | 0, c.index});
    out.push_back({function, 1, f, id_bits(c.count), c.count & 0xFFFF, (2u << 8) | 1, c.index});
    out.push_back({function, 2, f, 0, 0, 2, c.index});
}

// Largest XSAVE area the enabled components need (leaf 0xD.0 ECX).
uint32_t xsave_max_size(const CpuidTable& out, uint32_t xcr0) {
    uint32_t size = kXsaveLegacyAreaSize;
    for (const auto& e : out) {
        if (e.function == 0xD && e.index >= 2 && e.index < 32 && (xcr0 & bit(e.index)))
            size = std::max(size, e.ebx + e.eax); // offset + size of the component
    }
    return size;
}

bool in_range(const CpuidEntry& e, uint32_t base) {
    return e.function >= base && e.function <= base + 0xFFFF;
}

// Makes a range's max-leaf value (its first leaf's EAX) the highest leaf of
// that range still present, never more than KVM said, and drops leaves above it.
void clamp_max_leaf(CpuidTable& out, uint32_t base) {
    auto head = std::find_if(out.begin(), out.end(),
                             [&](const CpuidEntry& e) { return e.function == base && e.index == 0; });
    if (head == out.end()) return;
    uint32_t highest = base;
    for (const auto& e : out) {
        if (in_range(e, base) && e.function <= head->eax) highest = std::max(highest, e.function);
    }
    head->eax = highest;
    std::erase_if(out, [&](const CpuidEntry& e) { return in_range(e, base) && e.function > highest; });
}

} // namespace

const CpuidEntry* find_cpuid(const CpuidTable& table, uint32_t function, uint32_t index) {
    for (const auto& e : table) {
        if (e.function == function && e.index == index) return &e;
    }
    return nullptr;
}

CpuidTable apply_cpuid_policy(const CpuidTable& supported, uint32_t vcpu_index,
                              uint32_t vcpu_count) {
    vcpu_count = std::max(vcpu_count, 1u);
    const Features features = plan_features(supported);
    const Context ctx{features, vcpu_index, vcpu_count};

    CpuidTable out;
    for (const auto& e : supported) {
        if (auto applied = apply_to_entry(e, ctx)) out.push_back(*applied);
    }
    for (uint32_t leaf : {0xBu, 0x1Fu}) {
        if (find_cpuid(supported, leaf, 0)) add_topology_leaf(out, leaf, ctx);
    }
    if (const CpuidEntry* kvm = find_cpuid(supported, kKvmFeaturesLeaf)) {
        CpuidEntry sig{kKvmSignatureLeaf, 0, 0, kKvmFeaturesLeaf, 0, 0, 0};
        const char signature[] = "KVMKVMKVM\0\0\0"; // ebx, ecx, edx
        std::memcpy(&sig.ebx, signature, 4);
        std::memcpy(&sig.ecx, signature + 4, 4);
        std::memcpy(&sig.edx, signature + 8, 4);
        out.push_back(sig);
        out.push_back({kKvmFeaturesLeaf, 0, 0, kvm->eax & cpuid_allow::kKvmFeatures, 0, 0, 0});
    }

    std::stable_sort(out.begin(), out.end(), [](const CpuidEntry& a, const CpuidEntry& b) {
        return std::tie(a.function, a.index) < std::tie(b.function, b.index);
    });
    out.erase(std::unique(out.begin(), out.end(),
                          [](const CpuidEntry& a, const CpuidEntry& b) {
                              return a.function == b.function && a.index == b.index;
                          }),
              out.end());

    for (auto& e : out) {
        if (e.function == 0xD && e.index == 0) e.ecx = xsave_max_size(out, features.xcr0);
    }
    clamp_max_leaf(out, 0);
    clamp_max_leaf(out, 0x80000000);
    return out;
}

} // namespace brood::x86
