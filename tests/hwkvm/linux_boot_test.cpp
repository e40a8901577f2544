// Debian's kernel in brood-vmm, to its shell and back out: for the PVH
// vmlinux and the bzImage, with 1 and 2 vCPUs. Checks the console, the CPU
// count, the legacy interrupts Linux routes through the IOAPIC, the exit
// codes of `poweroff -f` and (in a restore of the same shell) `reboot -f`,
// and a graceful shutdown, which Linux takes as Ctrl+Alt+Del from its
// keyboard.
#include <chrono>
#include <filesystem>

#include "linux_guest.hpp"
#include "snapshot_helpers.hpp"

namespace brood::test {
namespace {

struct BootCase {
    const char* kernel;
    uint32_t vcpus;
};

class LinuxBoot : public ::testing::Test {
protected:
    void SetUp() override {
        BROOD_REQUIRE_LINUX_SHELL();
        _dir = make_temp_dir("linux");
    }
    void TearDown() override {
        if (!_dir.empty() && !HasFailure()) std::filesystem::remove_all(_dir);
    }
    std::string sub(const std::string& name) const {
        std::filesystem::create_directories(_dir + "/" + name);
        return _dir + "/" + name;
    }

    void run(const BootCase& c);
    std::string _dir;
};

void LinuxBoot::run(const BootCase& c) {
    auto vm = VmProcess::start({"boot", "--kernel", asset(c.kernel), "--initrd", asset("initrd.cpio.gz"), "--cmdline",
                                kLinuxCmdline, "--memory-mib", "256", "--vcpus", std::to_string(c.vcpus)},
                               sub("boot"));
    ASSERT_TRUE(vm) << vm.error().message();
    auto ready = vm->wait_for("brood-initrd ready", Millis(200'000), kBootQuietLimit);
    ASSERT_TRUE(ready) << ready.error().message() << "\nguest serial output:\n" << vm->all_output();

    // The console works both ways: a typed command gets its answer.
    auto answer = vm->command("echo lane-$((6*7))", "lane-42", Millis(30'000));
    ASSERT_TRUE(answer) << answer.error().message() << "\n" << vm->all_output();
    auto nproc = shell_value(*vm, "nproc", "nproc");
    ASSERT_TRUE(nproc) << nproc.error().message();
    EXPECT_EQ(*nproc, std::to_string(c.vcpus));

    // Legacy IRQs reach Linux through the IOAPIC: the timer (IRQ 0) and COM1 (IRQ 4).
    auto first = read_interrupts(*vm);
    ASSERT_TRUE(first) << first.error().message();
    for (auto line : {"timer", "ttyS0"}) {
        ASSERT_TRUE(first->count(line)) << "no '" << line << "' line in /proc/interrupts:\n" << vm->all_output();
        EXPECT_NE(first->at(line).description.find("IO-APIC"), std::string::npos)
            << line << ": " << first->at(line).description;
        EXPECT_GT(first->at(line).count, 0u) << line;
    }
    EXPECT_NE(first->at("timer").description.find("IO-APIC 0-edge"), std::string::npos)
        << "timer: " << first->at("timer").description;
    EXPECT_NE(first->at("ttyS0").description.find("IO-APIC 4-edge"), std::string::npos)
        << "ttyS0: " << first->at("ttyS0").description;
    auto second = read_interrupts(*vm);
    ASSERT_TRUE(second) << second.error().message();
    EXPECT_GT(second->at("ttyS0").count, first->at("ttyS0").count) << "typing raised no COM1 interrupts";

    // Snapshot the shell, power it off, then reboot a restored copy of it.
    const std::string state = _dir + "/state", memory = _dir + "/memory";
    auto snap = take_snapshot(*vm, state, memory);
    ASSERT_TRUE(snap) << snap.error().message();
    ASSERT_TRUE(vm->api("PUT", "/vm/resume"));
    ASSERT_TRUE(vm->send_line("poweroff -f"));
    auto off = vm->wait_exit(Millis(60'000));
    ASSERT_TRUE(off) << off.error().message() << "\n" << vm->all_output();
    EXPECT_EQ(*off, 0) << "poweroff -f must end brood-vmm with exit code 0\n" << vm->all_output();

    auto restored = restore(state, memory, "file", sub("restored"));
    ASSERT_TRUE(restored) << restored.error().message();
    auto again = restored->command("echo restored-$((6*7))", "restored-42", Millis(30'000));
    ASSERT_TRUE(again) << again.error().message() << "\n" << restored->all_output();
    ASSERT_TRUE(restored->send_line("reboot -f"));
    auto reset = restored->wait_exit(Millis(60'000));
    ASSERT_TRUE(reset) << reset.error().message() << "\n" << restored->all_output();
    EXPECT_EQ(*reset, 3) << "reboot -f must end brood-vmm with the reset exit code\n" << restored->all_output();

    // A graceful shutdown: Linux's keyboard driver bound, so it takes the
    // Ctrl+Alt+Del, and the initramfs' init syncs and powers off (exit code
    // 0) long before brood-vmm would force the power off (also exit code 0,
    // but without the init's line).
    auto stopped = restore(state, memory, "file", sub("stopped"));
    ASSERT_TRUE(stopped) << stopped.error().message();
    auto alive = stopped->command("echo stopping-$((6*7))", "stopping-42", Millis(30'000));
    ASSERT_TRUE(alive) << alive.error().message() << "\n" << stopped->all_output();
    auto keyboard = read_interrupts(*stopped);
    ASSERT_TRUE(keyboard) << keyboard.error().message();
    ASSERT_TRUE(keyboard->count("i8042")) << "no keyboard line in /proc/interrupts:\n" << stopped->all_output();
    EXPECT_NE(keyboard->at("i8042").description.find("IO-APIC 1-edge"), std::string::npos)
        << "i8042: " << keyboard->at("i8042").description;
    const auto asked = std::chrono::steady_clock::now();
    auto down = stopped->api("PUT", "/vm/shutdown", R"({"timeout_ms":120000})");
    ASSERT_TRUE(down) << down.error().message();
    auto off_again = stopped->wait_exit(Millis(150'000));
    ASSERT_TRUE(off_again) << off_again.error().message() << "\n" << stopped->all_output();
    const auto took = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - asked).count();
    EXPECT_EQ(*off_again, 0) << "a graceful shutdown must end brood-vmm with exit code 0\n" << stopped->all_output();
    EXPECT_NE(stopped->all_output().find("init: Ctrl+Alt+Del: syncing and powering off"), std::string::npos)
        << "the guest's init did not take the Ctrl+Alt+Del: brood-vmm exited " << *off_again << " after " << took
        << " ms\n"
        << stopped->all_output();
}

TEST_F(LinuxBoot, PvhVmlinuxOneVcpu) { run({"vmlinux", 1}); }
TEST_F(LinuxBoot, PvhVmlinuxTwoVcpus) { run({"vmlinux", 2}); }
TEST_F(LinuxBoot, BzImageOneVcpu) { run({"vmlinuz", 1}); }
TEST_F(LinuxBoot, BzImageTwoVcpus) { run({"vmlinuz", 2}); }

} // namespace
} // namespace brood::test
