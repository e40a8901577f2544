#include "vmm/kvm/vcpu.hpp"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "vmm/kvm/kvm_abi.hpp"
#include "vmm/kvm/kvm_state_convert.hpp"

namespace brood::kvm {

Result<Vcpu> Vcpu::create(const Kvm& kvm, const Vm& vm, uint32_t index) {
    int fd = ::ioctl(vm.fd(), KVM_CREATE_VCPU, index);
    if (fd < 0) return fail_errno(fmt::format("KVM_CREATE_VCPU {}", index));
    UniqueFd vcpu_fd(fd);
    auto page = TRY_CTX(Mapping::of_file(fd, kvm.vcpu_mmap_size(), PROT_READ | PROT_WRITE, MAP_SHARED),
                        fmt::format("map run page of vcpu {}", index));
    return Vcpu(index, std::move(vcpu_fd), std::move(page));
}

kvm_run* Vcpu::run_page() const { return reinterpret_cast<kvm_run*>(_run_page.data()); }

Result<void> Vcpu::set_cpuid(const x86::CpuidTable& table) {
    abi::FlexBuffer<abi::CpuidHeader, kvm_cpuid_entry2> buf(table.size());
    buf.header().nent = static_cast<uint32_t>(table.size());
    for (size_t i = 0; i < table.size(); ++i) {
        const auto& e = table[i];
        auto& k = buf.entries()[i];
        k = kvm_cpuid_entry2{};
        k.function = e.function;
        k.index = e.index;
        k.flags = e.flags;
        k.eax = e.eax;
        k.ebx = e.ebx;
        k.ecx = e.ecx;
        k.edx = e.edx;
    }
    if (::ioctl(_fd.get(), abi::kSetCpuid2, buf.data()) < 0) return fail_errno("KVM_SET_CPUID2");
    _cpuid = table;
    return {};
}

Result<void> Vcpu::set_boot_state(const x86::BootCpuState& state) {
    kvm_sregs sregs{};
    if (::ioctl(_fd.get(), KVM_GET_SREGS, &sregs) < 0) return fail_errno("KVM_GET_SREGS");
    apply_special_regs(state.sregs, sregs);
    if (::ioctl(_fd.get(), KVM_SET_SREGS, &sregs) < 0) return fail_errno("KVM_SET_SREGS");
    kvm_regs regs = to_kvm_regs(state.regs);
    if (::ioctl(_fd.get(), KVM_SET_REGS, &regs) < 0) return fail_errno("KVM_SET_REGS");
    return {};
}

std::string Vcpu::register_summary() {
    kvm_regs regs{};
    kvm_sregs sregs{};
    if (::ioctl(_fd.get(), KVM_GET_REGS, &regs) < 0 || ::ioctl(_fd.get(), KVM_GET_SREGS, &sregs) < 0)
        return fmt::format("registers unreadable: {}", std::strerror(errno));
    // AMD SVM leaves the VMCB undefined after a shutdown, so KVM puts the
    // vCPU through INIT: what is left is the reset state, not the guest's.
    if (regs.rip == 0xfff0 && sregs.cs.base == 0xffff0000 && !(sregs.cr0 & 1))
        return "registers lost: KVM reset the vCPU when it shut down, as it does on AMD SVM";
    return fmt::format("rip {:#x} rsp {:#x} cr0 {:#x} cr2 {:#x} cr3 {:#x} cr4 {:#x} efer {:#x}", regs.rip, regs.rsp,
                       sregs.cr0, sregs.cr2, sregs.cr3, sregs.cr4, sregs.efer);
}

Result<void> Vcpu::set_msrs(const std::vector<x86::MsrEntry>& msrs) {
    abi::FlexBuffer<abi::MsrsHeader, kvm_msr_entry> buf(msrs.size());
    buf.header() = {static_cast<uint32_t>(msrs.size()), 0};
    for (size_t i = 0; i < msrs.size(); ++i) buf.entries()[i] = kvm_msr_entry{msrs[i].index, 0, msrs[i].value};
    int n = ::ioctl(_fd.get(), abi::kSetMsrs, buf.data());
    if (n < 0) return fail_errno("KVM_SET_MSRS");
    if (static_cast<size_t>(n) != msrs.size())
        return fail(fmt::format("KVM_SET_MSRS: MSR {:#x} was refused", msrs[static_cast<size_t>(n)].index));
    return {};
}

Result<void> Vcpu::set_default_fpu() {
    kvm_fpu fpu{};
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    if (::ioctl(_fd.get(), KVM_SET_FPU, &fpu) < 0) return fail_errno("KVM_SET_FPU");
    return {};
}

Result<void> Vcpu::get_lapic(std::span<uint8_t, 1024> regs) {
    kvm_lapic_state lapic{};
    if (::ioctl(_fd.get(), KVM_GET_LAPIC, &lapic) < 0) return fail_errno("KVM_GET_LAPIC");
    std::memcpy(regs.data(), lapic.regs, regs.size());
    return {};
}

Result<void> Vcpu::set_lapic(std::span<const uint8_t, 1024> regs) {
    kvm_lapic_state lapic{};
    std::memcpy(lapic.regs, regs.data(), regs.size());
    if (::ioctl(_fd.get(), KVM_SET_LAPIC, &lapic) < 0) return fail_errno("KVM_SET_LAPIC");
    return {};
}

void Vcpu::set_immediate_exit(bool on) {
    __atomic_store_n(&run_page()->immediate_exit, on ? 1 : 0, __ATOMIC_SEQ_CST);
}

Result<void> Vcpu::tell_guest_it_was_stopped() {
    // EINVAL: the guest has not enabled kvmclock; ENOTTY: an older KVM.
    if (::ioctl(_fd.get(), KVM_KVMCLOCK_CTRL, 0) == 0 || errno == EINVAL || errno == ENOTTY) return {};
    return fail_errno("KVM_KVMCLOCK_CTRL");
}

Result<VcpuExit> Vcpu::run() {
    kvm_run* run = run_page();
    VcpuExit exit;
    if (::ioctl(_fd.get(), KVM_RUN, 0) < 0) {
        // EAGAIN: an AP just accepted its SIPI on some hosts; EINTR: a signal.
        if (errno == EINTR || errno == EAGAIN) {
            exit.kind = VcpuExit::Kind::interrupted;
            exit.detail = static_cast<uint64_t>(errno);
            return exit;
        }
        return fail_errno(fmt::format("KVM_RUN vcpu {}", _index));
    }
    exit.raw_reason = run->exit_reason;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        exit.kind = VcpuExit::Kind::io;
        exit.is_write = run->io.direction == KVM_EXIT_IO_OUT;
        exit.port = run->io.port;
        exit.size = run->io.size;
        exit.count = run->io.count;
        exit.data = std::span<uint8_t>(reinterpret_cast<uint8_t*>(run) + run->io.data_offset,
                                       static_cast<size_t>(run->io.size) * run->io.count);
        break;
    case KVM_EXIT_MMIO:
        exit.kind = VcpuExit::Kind::mmio;
        exit.is_write = run->mmio.is_write;
        exit.address = run->mmio.phys_addr;
        exit.size = run->mmio.len;
        exit.data = std::span<uint8_t>(run->mmio.data, run->mmio.len);
        break;
    case KVM_EXIT_INTR:
        exit.kind = VcpuExit::Kind::interrupted;
        break;
    case KVM_EXIT_HLT:
        exit.kind = VcpuExit::Kind::hlt;
        break;
    case KVM_EXIT_SHUTDOWN:
        exit.kind = VcpuExit::Kind::shutdown;
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        exit.detail = run->system_event.type;
        exit.kind = run->system_event.type == KVM_SYSTEM_EVENT_RESET ? VcpuExit::Kind::system_reset
                                                                      : VcpuExit::Kind::system_off;
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        exit.kind = VcpuExit::Kind::internal_error;
        exit.detail = run->internal.suberror;
        break;
    case KVM_EXIT_FAIL_ENTRY:
        exit.kind = VcpuExit::Kind::fail_entry;
        exit.detail = run->fail_entry.hardware_entry_failure_reason;
        break;
    default:
        exit.kind = VcpuExit::Kind::other;
        break;
    }
    return exit;
}

} // namespace brood::kvm
