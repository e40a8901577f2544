// Saving and restoring one vCPU's complete state for snapshots.
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstring>

#include <fmt/format.h>

#include "vmm/arch/x86_64/msr.hpp"
#include "vmm/kvm/kvm_abi.hpp"
#include "vmm/kvm/vcpu.hpp"

namespace brood::kvm {
namespace {

template <typename T>
Result<void> get_into(int fd, unsigned long request, const char* name, std::vector<uint8_t>& out) {
    T value{};
    if (::ioctl(fd, request, &value) < 0) return fail_errno(name);
    out.resize(sizeof(T));
    std::memcpy(out.data(), &value, sizeof(T));
    return {};
}

template <typename T>
Result<void> set_from(int fd, unsigned long request, const char* name, const std::vector<uint8_t>& in) {
    if (in.size() != sizeof(T))
        return fail(fmt::format("{}: saved state is {} bytes, this host expects {}", name, in.size(), sizeof(T)));
    T value;
    std::memcpy(&value, in.data(), sizeof(T));
    if (::ioctl(fd, request, &value) < 0) return fail_errno(name);
    return {};
}

Result<std::vector<x86::MsrEntry>> get_msrs(int fd, const std::vector<uint32_t>& indices) {
    abi::FlexBuffer<abi::MsrsHeader, kvm_msr_entry> buf(indices.size());
    buf.header() = {static_cast<uint32_t>(indices.size()), 0};
    for (size_t i = 0; i < indices.size(); ++i) buf.entries()[i] = kvm_msr_entry{indices[i], 0, 0};
    int n = ::ioctl(fd, abi::kGetMsrs, buf.data());
    if (n < 0) return fail_errno("KVM_GET_MSRS");
    if (static_cast<size_t>(n) != indices.size())
        return fail(fmt::format("KVM_GET_MSRS: MSR {:#x} could not be read", indices[static_cast<size_t>(n)]));
    std::vector<x86::MsrEntry> out;
    out.reserve(indices.size());
    for (size_t i = 0; i < indices.size(); ++i) out.push_back({buf.entries()[i].index, buf.entries()[i].data});
    return out;
}

// kvm_xcrs starts with its entry count; 0 where the host CPU has no XSAVE.
uint32_t xcr_count(const std::vector<uint8_t>& xcrs) {
    uint32_t n = 0;
    if (xcrs.size() >= sizeof(n)) std::memcpy(&n, xcrs.data(), sizeof(n));
    return n;
}

} // namespace

// The order follows KVM's dependencies: MP state first (it can flush pending
// events), LAPIC after special registers (APIC base), MSRs after the LAPIC
// (TSC deadline), events last.
Result<VcpuState> Vcpu::save_state(const std::vector<uint32_t>& msr_indices) {
    VcpuState s;
    int fd = _fd.get();
    TRY(get_into<kvm_mp_state>(fd, KVM_GET_MP_STATE, "KVM_GET_MP_STATE", s.mp_state));
    TRY(get_into<kvm_regs>(fd, KVM_GET_REGS, "KVM_GET_REGS", s.regs));
    TRY(get_into<kvm_sregs>(fd, KVM_GET_SREGS, "KVM_GET_SREGS", s.sregs));
    TRY(get_into<abi::XsaveArea>(fd, abi::kGetXsave, "KVM_GET_XSAVE", s.xsave));
    TRY(get_into<kvm_xcrs>(fd, KVM_GET_XCRS, "KVM_GET_XCRS", s.xcrs));
    TRY(get_into<kvm_debugregs>(fd, KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS", s.debugregs));
    TRY(get_into<kvm_lapic_state>(fd, KVM_GET_LAPIC, "KVM_GET_LAPIC", s.lapic));
    s.msrs = TRY(get_msrs(fd, msr_indices));
    TRY(get_into<kvm_vcpu_events>(fd, KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS", s.events));
    return s;
}

Result<void> Vcpu::restore_state(const VcpuState& s) {
    int fd = _fd.get();
    TRY(set_from<kvm_mp_state>(fd, KVM_SET_MP_STATE, "KVM_SET_MP_STATE", s.mp_state));
    TRY(set_from<kvm_regs>(fd, KVM_SET_REGS, "KVM_SET_REGS", s.regs));
    TRY(set_from<kvm_sregs>(fd, KVM_SET_SREGS, "KVM_SET_SREGS", s.sregs));
    TRY(set_from<abi::XsaveArea>(fd, abi::kSetXsave, "KVM_SET_XSAVE", s.xsave));
    // A host CPU without XSAVE reports no XCRs and refuses KVM_SET_XCRS.
    if (xcr_count(s.xcrs) > 0) TRY(set_from<kvm_xcrs>(fd, KVM_SET_XCRS, "KVM_SET_XCRS", s.xcrs));
    TRY(set_from<kvm_debugregs>(fd, KVM_SET_DEBUGREGS, "KVM_SET_DEBUGREGS", s.debugregs));
    TRY(set_from<kvm_lapic_state>(fd, KVM_SET_LAPIC, "KVM_SET_LAPIC", s.lapic));
    TRY(set_msrs(s.msrs));
    for (const auto& msr : s.msrs)
        if (msr.index == x86::msr::kTsc) _tsc_written = TscWrite{msr.value, std::chrono::steady_clock::now()};
    TRY(set_from<kvm_vcpu_events>(fd, KVM_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS", s.events));
    return {};
}

Result<uint64_t> Vcpu::read_msr(uint32_t index) { return TRY(get_msrs(fd(), {index})).front().value; }

Result<VcpuSnapshot> Vcpu::save() {
    return VcpuSnapshot{_index, _cpuid, TRY(save_state(_snapshot_msrs))};
}

Result<void> Vcpu::check(const VcpuSnapshot& saved) const {
    if (saved.index != _index)
        return fail(fmt::format("vcpu sections out of order: found {}, expected {}", saved.index, _index));
    return {};
}

Result<void> Vcpu::restore(const VcpuSnapshot& saved) {
    TRY(check(saved));
    TRY(set_cpuid(saved.cpuid));
    return restore_state(saved.state);
}

void VcpuCodec::encode(const State& v, snapshot::ByteWriter& w) {
    w.u32(v.index);
    w.u32(static_cast<uint32_t>(v.cpuid.size()));
    for (const auto& e : v.cpuid) {
        for (uint32_t x : {e.function, e.index, e.flags, e.eax, e.ebx, e.ecx, e.edx}) w.u32(x);
    }
    const auto& s = v.state;
    for (const auto* blob : {&s.regs, &s.sregs, &s.xsave, &s.xcrs, &s.lapic, &s.mp_state, &s.events, &s.debugregs})
        w.blob(*blob);
    w.u32(static_cast<uint32_t>(s.msrs.size()));
    for (const auto& m : s.msrs) {
        w.u32(m.index);
        w.u64(m.value);
    }
}

Result<VcpuSnapshot> VcpuCodec::decode(snapshot::ByteReader& r, uint32_t) {
    VcpuSnapshot v;
    v.index = TRY(r.u32());
    uint32_t n = TRY(r.u32());
    if (n > 4096) return fail("vcpu section has an absurd CPUID table");
    for (uint32_t i = 0; i < n; ++i) {
        x86::CpuidEntry e;
        for (uint32_t* x : {&e.function, &e.index, &e.flags, &e.eax, &e.ebx, &e.ecx, &e.edx}) *x = TRY(r.u32());
        v.cpuid.push_back(e);
    }
    auto& s = v.state;
    for (auto* blob : {&s.regs, &s.sregs, &s.xsave, &s.xcrs, &s.lapic, &s.mp_state, &s.events, &s.debugregs})
        *blob = TRY(r.blob());
    uint32_t nmsrs = TRY(r.u32());
    if (nmsrs > 4096) return fail("vcpu section has an absurd MSR list");
    for (uint32_t i = 0; i < nmsrs; ++i) {
        x86::MsrEntry m;
        m.index = TRY(r.u32());
        m.value = TRY(r.u64());
        s.msrs.push_back(m);
    }
    return v;
}

} // namespace brood::kvm
