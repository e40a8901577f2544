// KVM ioctls whose argument ends in a flexible array. Debian 12's uapi
// headers declare those arrays with __DECLARE_FLEX_ARRAY, which in C++ adds
// an empty struct: sizeof() and the entries' offset then differ from the
// kernel's C layout, and so do the ioctl numbers. We use the C layout
// explicitly: a fixed header, then the entries. Private to src/vmm/kvm.
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace brood::kvm::abi {

struct CpuidHeader {
    uint32_t nent;
    uint32_t padding;
};
struct MsrsHeader {
    uint32_t nmsrs;
    uint32_t pad;
};
struct MsrListHeader {
    uint32_t nmsrs;
};

// The legacy 4 KiB XSAVE area (KVM_GET_XSAVE2 is only needed for AMX).
struct XsaveArea {
    uint32_t region[1024];
};

constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, XsaveArea);
constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, XsaveArea);
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
constexpr unsigned long kGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);

// A header followed by `count` entries, laid out as the kernel expects.
template <typename Header, typename Entry>
class FlexBuffer final {
public:
    explicit FlexBuffer(size_t count) : _bytes(sizeof(Header) + count * sizeof(Entry) + alignof(uint64_t)) {}
    void* data() { return aligned(); }
    Header& header() { return *static_cast<Header*>(aligned()); }
    Entry* entries() { return reinterpret_cast<Entry*>(static_cast<uint8_t*>(aligned()) + sizeof(Header)); }

private:
    void* aligned() {
        auto p = reinterpret_cast<uintptr_t>(_bytes.data());
        return reinterpret_cast<void*>((p + alignof(uint64_t) - 1) & ~uintptr_t{alignof(uint64_t) - 1});
    }
    std::vector<uint8_t> _bytes;
};

static_assert(sizeof(XsaveArea) == 4096);
static_assert(sizeof(CpuidHeader) == 8 && sizeof(MsrsHeader) == 8 && sizeof(MsrListHeader) == 4);
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16);

} // namespace brood::kvm::abi
