#include "vmm/kvm/runtime_ioctls.hpp"

#include <linux/fs.h>
#include <linux/kvm.h>

#include <array>

#include "vmm/kvm/kvm_abi.hpp"

namespace brood::kvm {
namespace {

constexpr std::array kVcpuThread = {
    IoctlRequest{"KVM_RUN", KVM_RUN},
    IoctlRequest{"KVM_IRQ_LINE", KVM_IRQ_LINE},
};

constexpr std::array kRuntime = {
    IoctlRequest{"KVM_RUN", KVM_RUN},
    IoctlRequest{"KVM_IRQ_LINE", KVM_IRQ_LINE},
    // Vm::save()
    IoctlRequest{"KVM_GET_IRQCHIP", KVM_GET_IRQCHIP},
    IoctlRequest{"KVM_GET_PIT2", KVM_GET_PIT2},
    IoctlRequest{"KVM_GET_CLOCK", KVM_GET_CLOCK},
    // Vcpu::save()
    IoctlRequest{"KVM_GET_MP_STATE", KVM_GET_MP_STATE},
    IoctlRequest{"KVM_GET_REGS", KVM_GET_REGS},
    IoctlRequest{"KVM_GET_SREGS", KVM_GET_SREGS},
    IoctlRequest{"KVM_GET_XSAVE", abi::kGetXsave},
    IoctlRequest{"KVM_GET_XCRS", KVM_GET_XCRS},
    IoctlRequest{"KVM_GET_DEBUGREGS", KVM_GET_DEBUGREGS},
    IoctlRequest{"KVM_GET_LAPIC", KVM_GET_LAPIC},
    IoctlRequest{"KVM_GET_MSRS", abi::kGetMsrs},
    IoctlRequest{"KVM_GET_VCPU_EVENTS", KVM_GET_VCPU_EVENTS},
    // Machine::resume(): the guest's kvmclock learns it was stopped
    IoctlRequest{"KVM_KVMCLOCK_CTRL", KVM_KVMCLOCK_CTRL},
    // the memory writer's copy of a backing file (common/file_copy)
    IoctlRequest{"FICLONE", FICLONE},
};

} // namespace

std::span<const IoctlRequest> runtime_ioctls() { return kRuntime; }
std::span<const IoctlRequest> vcpu_thread_ioctls() { return kVcpuThread; }

} // namespace brood::kvm
