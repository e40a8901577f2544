// A guest that triple faults, through broodd as a user runs it (root, so
// the VMM is jailed): the instance ends Failed, and its reason names the
// vCPU and what is known of its registers. A jailed vCPU thread may only
// run the guest, so the VMM reads them elsewhere. On hardware-assisted KVM
// only: the test guest's fault is the CPU's own there, not an emulator's.
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "daemon.hpp"
#include "vm_process.hpp"

namespace brood::test {
namespace {

using nlohmann::json;

// KVM on AMD SVM puts a vCPU that shut down through INIT: its registers
// are then the reset state's, and the VMM says they were lost.
bool kvm_resets_on_shutdown() { return ::access("/sys/module/kvm_amd", F_OK) == 0; }

TEST(GuestCrash, TripleFaultFailsTheInstanceAndGivesWhatIsKnownOfTheRegisters) {
    if (!hardware_kvm()) GTEST_SKIP() << "needs hardware-assisted KVM (kvm_intel or kvm_amd); runs on the hardware-KVM lane";
    brood::testing::Daemon daemon;
    daemon.start();
    std::string id = daemon.create("tf").value("id", "");
    ASSERT_EQ(daemon.call("POST", "/instances/" + id + "/start").status, 200);
    ASSERT_TRUE(daemon.wait_guest_ready(id));
    daemon.call("POST", "/instances/" + id + "/console", {{"input", "triplefault"}, {"until", "never"}, {"timeout_ms", 300}});
    json got;
    for (int i = 0; i < 500; ++i) {
        got = daemon.call("GET", "/instances/" + id).body;
        if (got.value("state", "") != "Running") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(got["state"], "Failed") << got.dump();
    EXPECT_EQ(got["last_exit"]["exit_code"], 4) << got.dump();
    std::string reason = got["failure_reason"].is_string() ? got["failure_reason"].get<std::string>() : "";
    EXPECT_NE(reason.find("vcpu 0: triple fault ("), std::string::npos) << got.dump();
    if (kvm_resets_on_shutdown()) {
        EXPECT_NE(reason.find("registers lost: KVM reset the vCPU"), std::string::npos) << reason;
        return;
    }
    for (const char* part : {"rip 0x", "rsp 0x", "cr0 0x", "cr3 0x", "efer 0x"})
        EXPECT_NE(reason.find(part), std::string::npos) << part << " missing from: " << reason;
    // The registers are the guest's: it ran in long mode, so EFER has LME
    // (bit 8) and LMA (bit 10).
    size_t at = reason.find("efer 0x");
    ASSERT_NE(at, std::string::npos);
    EXPECT_EQ(std::stoul(reason.substr(at + 7), nullptr, 16) & 0x500, 0x500u) << reason;
}

} // namespace
} // namespace brood::test
