// What a brood-vmm whose guest stopped making progress is doing, for a
// test's failure message: each thread's state and kernel wait channel and,
// with BROOD_TEST_KVM_TRACE=1 (as root, with tracefs), KVM's events for its
// threads over two seconds: whether the guest still exits, and where, halts,
// or gets interrupts.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace brood::test {

std::string stall_report(pid_t vmm);

// Every running brood-vmm on this host (by its command name).
std::vector<pid_t> brood_vmm_pids();

} // namespace brood::test
