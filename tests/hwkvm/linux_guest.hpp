// Helpers for the tests that run Debian's kernel to its shell: they need
// hardware-assisted KVM (the hardware-KVM lane, or a host with kvm_intel or
// kvm_amd) and the guest assets.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "vm_process.hpp"

namespace brood::test {

// What the lane's guests boot with: serial console, keyboard-controller
// reset (so `reboot -f` ends brood-vmm with the reset exit code).
inline constexpr const char* kLinuxCmdline = "console=ttyS0 reboot=k panic=-1";

// A booting Linux prints something every few seconds, even under the
// lane's emulation (a whole boot takes 10 to 40 s there): a boot that prints
// nothing for this long has stopped, and its test says so without waiting
// out its whole time limit.
inline constexpr Millis kBootQuietLimit{60'000};
inline constexpr int kBootQuietLimitMs = static_cast<int>(kBootQuietLimit.count());

inline std::string asset(const std::string& name) { return assets_dir() + "/" + name; }

// Skips (with the reason) where Linux cannot boot to its shell; fails where
// the assets are missing.
#define BROOD_REQUIRE_LINUX_SHELL()                                                                              \
    do {                                                                                                         \
        if (!::brood::test::hardware_kvm())                                                                      \
            GTEST_SKIP() << "needs hardware-assisted KVM (kvm_intel or kvm_amd): this host's KVM emulates the " \
                            "guest kernel's CPL0 code; these tests run on the hardware-KVM lane "               \
                            "(scripts/hwkvm-lane.sh)";                                                           \
        for (auto name : {"vmlinux", "vmlinuz", "initrd.cpio.gz"})                                               \
            ASSERT_TRUE(std::filesystem::exists(::brood::test::asset(name)))                                     \
                << ::brood::test::asset(name) << " is missing: run `make assets`";                             \
    } while (0)

// One /proc/interrupts line: the sum over CPUs, and the rest ("IO-APIC 4-edge ttyS0").
struct IrqLine {
    uint64_t count = 0;
    std::string description;
};

// Lines of /proc/interrupts output, by their last word (timer, ttyS0, ...).
std::map<std::string, IrqLine> parse_interrupts(const std::string& text);

// Runs `cat /proc/interrupts` in the guest's shell and parses the answer.
Result<std::map<std::string, IrqLine>> read_interrupts(VmProcess& vm);

// Runs `echo <tag>-42=$(<expr>)` in the guest's shell and returns the value.
Result<std::string> shell_value(VmProcess& vm, const std::string& tag, const std::string& expr,
                                Millis timeout = Millis(30'000));

} // namespace brood::test
