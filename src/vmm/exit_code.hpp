// brood-vmm's process exit codes (documented in docs/interfaces.md).
#pragma once

namespace brood {

enum class ExitCode : int {
    power_off = 0, // guest powered off, or shutdown through the control API
    vmm_error = 1, // the VMM failed while running
    bad_input = 2, // arguments, kernel, initrd or state file rejected
    reset = 3,     // guest reset (reboot)
    crash = 4,     // triple fault, KVM internal error, emulation failure
};
// Killed by signal N: 128 + N, as a shell reports it.
constexpr int exit_code_for_signal(int signo) { return 128 + signo; }

} // namespace brood
