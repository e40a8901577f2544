// Real Linux guests (Debian's cloud kernel + busybox initramfs from
// scripts/fetch-guest-assets.sh). On a nested, paging-based KVM the kernel's
// CPL0 code is emulated (~2M instructions/s) and stops on an instruction the
// emulator lacks, so here we check that it runs, prints, and survives
// snapshot/restore. The boot to a shell, and everything after it, is in
// tests/hwkvm (on the hardware-KVM lane, or here where the host has it).
#include <filesystem>
#include <fstream>
#include <string>

#include "kvm_fixture.hpp"
#include "snapshot_helpers.hpp"

namespace brood::test {
namespace {

constexpr const char* kCmdline = "console=ttyS0 earlyprintk=serial,ttyS0 reboot=k panic=-1";

class LinuxTest : public KvmTest {
protected:
    void SetUp() override {
        KvmTest::SetUp();
        if (IsSkipped()) return;
        for (auto name : {"vmlinux", "vmlinuz", "initrd.cpio.gz"})
            ASSERT_TRUE(std::filesystem::exists(asset(name)))
                << asset(name) << " is missing: run `make assets` (scripts/fetch-guest-assets.sh)";
    }
    static std::string asset(const std::string& name) { return assets_dir() + "/" + name; }

    VmProcess boot_linux(const std::string& kernel, const std::string& in_dir, uint32_t vcpus = 1) {
        auto vm = VmProcess::start({"boot", "--kernel", asset(kernel), "--initrd", asset("initrd.cpio.gz"), "--cmdline",
                                    kCmdline, "--memory-mib", "256", "--vcpus", std::to_string(vcpus)},
                                   in_dir);
        if (!vm) {
            ADD_FAILURE() << vm.error().message();
            std::abort();
        }
        return std::move(*vm);
    }
};

TEST_F(LinuxTest, PvhVmlinuxPrintsItsFirstConsoleLines) {
    auto vm = boot_linux("vmlinux", dir());
    auto banner = vm.wait_for("Linux version 6.", Millis(180'000));
    ASSERT_TRUE(banner) << banner.error().message();
    auto next = vm.wait_for("Command line: console=ttyS0", Millis(60'000));
    EXPECT_TRUE(next) << next.error().message();
}

// Debian's kernel has no MP table support (CONFIG_X86_MPPARSE off): it finds
// the second vCPU only through the ACPI MADT, via PVH's rsdp_paddr.
TEST_F(LinuxTest, PvhVmlinuxFindsTwoCpusThroughAcpi) {
    auto vm = boot_linux("vmlinux", dir(), 2);
    auto allowing = vm.wait_for("smpboot: Allowing 2 CPUs", Millis(180'000));
    ASSERT_TRUE(allowing) << allowing.error().message() << "\n" << vm.all_output();
    const std::string out = vm.all_output();
    EXPECT_EQ(out.find("A valid RSDP was not found"), std::string::npos);
    EXPECT_EQ(out.find("not listed by BIOS"), std::string::npos);
}

TEST_F(LinuxTest, BzImagePrintsItsFirstConsoleLines) {
    // The bzImage first decompresses itself, all of it emulated here: slow.
    auto vm = boot_linux("vmlinuz", dir());
    auto banner = vm.wait_for("Linux version 6.", Millis(400'000));
    ASSERT_TRUE(banner) << banner.error().message();
}

TEST_F(LinuxTest, EarlyBootSurvivesSnapshotAndRestore) {
    auto vm = boot_linux("vmlinux", subdir("source"));
    ASSERT_TRUE(vm.wait_for("Linux version 6.", Millis(180'000)));
    ASSERT_TRUE(vm.wait_for("Hypervisor detected: KVM", Millis(60'000)));
    auto snap = take_snapshot(vm, path("state"), path("memory"));
    ASSERT_TRUE(snap) << snap.error().message();
    std::string before = vm.all_output();
    vm.kill_now();

    auto restored = restore(path("state"), path("memory"), "file", subdir("restored"));
    ASSERT_TRUE(restored) << restored.error().message();
    // The kernel carries on where it was: later boot lines that the source
    // had not printed appear, with timestamps that keep counting.
    auto later = restored->wait_for("tsc: Detected", Millis(120'000));
    ASSERT_TRUE(later) << later.error().message();
    EXPECT_EQ(before.find("tsc: Detected"), std::string::npos);
    auto more = restored->wait_for("Booting paravirtualized kernel on KVM", Millis(120'000));
    EXPECT_TRUE(more) << more.error().message();
}

} // namespace
} // namespace brood::test
