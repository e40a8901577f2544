// The ioctls brood-vmm makes once its machine is built, by request number:
// the box's seccomp filter allows ioctl() with these requests only (see
// vmm/jail/seccomp_policy.hpp). Creating the VM, its memory, vCPUs,
// irqchip, eventfds and TAP, and setting restored state, all happen before
// the box closes and are not here.
//
// Kept next to the code that makes the calls: a new ioctl after the build
// needs its line here, or the box kills the VMM when it is made.
#pragma once

#include <span>
#include <string_view>

namespace brood::kvm {

struct IoctlRequest {
    std::string_view name;
    unsigned long request;
};

// Any thread: the vCPU thread's two below, and the snapshot's reads of VM
// and vCPU state (made while the vCPUs are parked), and a reflink of the
// backing memory file for a diff snapshot.
std::span<const IoctlRequest> runtime_ioctls();

// A vCPU thread: KVM_RUN, and raising a legacy IRQ line from a device that
// emulates in the exit (the serial port).
std::span<const IoctlRequest> vcpu_thread_ioctls();

} // namespace brood::kvm
