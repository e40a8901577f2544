// Saving and restoring one vCPU's complete state for snapshots.
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstring>

#include <fmt/format.h>

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
    TRY(set_from<kvm_vcpu_events>(fd, KVM_SET_VCPU_EVENTS, "KVM_SET_VCPU_EVENTS", s.events));
    return {};
}

} // namespace brood::kvm
