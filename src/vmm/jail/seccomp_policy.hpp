// The seccomp allow-lists of brood-vmm's box. Everything not listed kills
// the process (SECCOMP_RET_KILL_PROCESS): a VMM that makes a call it never
// makes in normal work is taken to be compromised.
//
// process_policy(): every thread. What a VMM does after it is built: guest
// I/O on open fds, its Unix sockets (control API, serial socket, vsock),
// files in its instance directory (snapshots, rotated logs), threads (for
// the API and the vCPUs; clone only with CLONE_THREAD, clone3 answers
// ENOSYS so the C library falls back to clone), signals to itself only.
// Not listed, among others: execve, ptrace, mount, unshare, setns,
// bpf, kexec, module loading, keyctl, perf_event_open, process_vm_*,
// sockets other than AF_UNIX, chown, setuid. ioctl() only with the
// requests of kvm::runtime_ioctls() (reads of VM and vCPU state for a
// snapshot, KVM_RUN, KVM_IRQ_LINE, FICLONE): not KVM_CREATE_VM, memory
// slots, KVM_SET_* or any TTY, TAP or block device request.
//
// vcpu_policy(): added on each vCPU thread; KVM_RUN and KVM_IRQ_LINE
// (kvm::vcpu_thread_ioctls()), and the device emulation that runs in its exits (memory, locks, eventfds, epoll
// registration when a driver starts a virtio device, the kick signal).
#pragma once

#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace brood::jail {

// Calls allowed whatever their arguments, by name.
const std::vector<std::string_view>& process_syscalls();
const std::vector<std::string_view>& vcpu_syscalls();

// Loads the filter into the kernel. process: for every thread of the
// process (TSYNC); vcpu: for the calling thread, on top of process.
Result<void> load_process_policy();
Result<void> load_vcpu_policy();

} // namespace brood::jail
