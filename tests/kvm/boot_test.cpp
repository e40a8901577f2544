// Boots the in-repo test guest under brood-vmm and talks to it.
#include <chrono>
#include <regex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kvm_fixture.hpp"

namespace brood::test {
namespace {

using BootTest = KvmTest;

TEST_F(BootTest, OneVcpuAnswersPingAndCpus) {
    auto vm = boot_guest(128, 1, dir());
    EXPECT_EQ(ask(vm, "ping", "pong"), "pong");
    EXPECT_EQ(ask(vm, "cpus", "cpus online="), "cpus online=1 ids=0");
}

// A wait with a quiet limit gives up once the guest prints nothing for that
// long, well before its time limit, and says what the VMM's threads do.
TEST_F(BootTest, AWaitGivesUpOnASilentGuestAndShowsTheVmm) {
    auto vm = boot_guest(128, 1, dir());
    auto start = Clock::now();
    auto never = vm.wait_for("a line the guest never prints", Millis(60'000), Millis(500));
    auto took = std::chrono::duration_cast<Millis>(Clock::now() - start).count();
    ASSERT_FALSE(never);
    EXPECT_LT(took, 20'000);
    const std::string& why = never.error().message();
    EXPECT_NE(why.find("printed nothing for 500 ms"), std::string::npos) << why;
    EXPECT_NE(why.find(fmt::format("brood-vmm {}: its threads", vm.pid())), std::string::npos) << why;
    EXPECT_EQ(ask(vm, "ping", "pong"), "pong"); // the wait changed nothing in the guest
}

TEST_F(BootTest, FourVcpusAllAnswer) {
    auto vm = boot_guest(128, 4, dir());
    EXPECT_EQ(ask(vm, "cpus", "cpus online="), "cpus online=4 ids=0,1,2,3");
}

TEST_F(BootTest, SleepIsTimerDrivenAndOnTime) {
    auto vm = boot_guest(128, 1, dir());
    auto start = Clock::now();
    EXPECT_EQ(ask(vm, "sleep 500", "slept"), "slept ms=500");
    auto took = std::chrono::duration_cast<Millis>(Clock::now() - start).count();
    EXPECT_GE(took, 500);
    EXPECT_LT(took, 1500);
}

// Commands that take one bounded number answer bad arguments with an error.
TEST_F(BootTest, OneNumberCommandsRefuseBadArguments) {
    auto vm = boot_guest(128, 1, dir());
    EXPECT_EQ(ask(vm, "sleep", "error"), "error: usage: sleep <ms>");
    EXPECT_EQ(ask(vm, "sleep 3600001", "error"), "error: bad number");
    EXPECT_EQ(ask(vm, "lines 1 2", "error"), "error: usage: lines <n>");
    EXPECT_EQ(ask(vm, "lines x", "error"), "error: bad number");
    EXPECT_EQ(ask(vm, "lines 1000001", "error"), "error: bad number");
    EXPECT_EQ(ask(vm, "lines 2", "lines done"), "lines done");
}

TEST_F(BootTest, TouchAndVerify256MiB) {
    auto vm = boot_guest(512, 1, dir());
    std::string touched = ask(vm, "touch 256 7", "touched", Millis(60'000));
    EXPECT_TRUE(touched.starts_with("touched pages=65536 ")) << touched;
    std::string ok = ask(vm, "verify 256 7", "pages=", Millis(60'000));
    EXPECT_TRUE(ok.starts_with("ok pages=65536 ")) << ok;
    // Same checksum for the same pattern; another seed is caught.
    EXPECT_EQ(ok.substr(ok.find("checksum")), touched.substr(touched.find("checksum")));
    EXPECT_TRUE(ask(vm, "verify 256 8", "bad page=", Millis(60'000)).starts_with("bad page=0 "));
}

TEST_F(BootTest, CountGrowsByOne) {
    auto vm = boot_guest(128, 1, dir());
    EXPECT_EQ(ask(vm, "count", "count "), "count 1");
    EXPECT_EQ(ask(vm, "count", "count "), "count 2");
}

TEST_F(BootTest, GuestPowerOffExitsZero) {
    auto vm = boot_guest(128, 1, dir());
    ASSERT_TRUE(vm.send_line("poweroff"));
    auto code = vm.wait_exit(Millis(10'000));
    ASSERT_TRUE(code) << code.error().message();
    EXPECT_EQ(*code, 0);
}

TEST_F(BootTest, GuestResetExitsThree) {
    auto vm = boot_guest(128, 1, dir());
    ASSERT_TRUE(vm.send_line("reboot"));
    auto code = vm.wait_exit(Millis(10'000));
    ASSERT_TRUE(code) << code.error().message();
    EXPECT_EQ(*code, 3);
}

TEST_F(BootTest, ControlApiInfoPauseResumeShutdown) {
    auto vm = boot_guest(128, 2, dir());
    auto info = vm.api("GET", "/vm");
    ASSERT_TRUE(info) << info.error().message();
    EXPECT_EQ(info->status, 200);
    auto json = nlohmann::json::parse(info->body);
    EXPECT_EQ(json["state"], "running");
    EXPECT_EQ(json["vcpus"], 2);
    EXPECT_EQ(json["memory_mib"], 128);

    ASSERT_EQ(vm.api("PUT", "/vm/pause")->status, 204);
    EXPECT_EQ(nlohmann::json::parse(vm.api("GET", "/vm")->body)["state"], "paused");
    ASSERT_TRUE(vm.send_line("ping"));
    EXPECT_FALSE(vm.wait_for("pong", Millis(300))) << "a paused guest answered";
    ASSERT_EQ(vm.api("PUT", "/vm/resume")->status, 204);
    EXPECT_TRUE(vm.wait_for("pong", Millis(5000)));

    auto stats = vm.api("GET", "/vm/stats");
    ASSERT_TRUE(stats);
    auto s = nlohmann::json::parse(stats->body);
    EXPECT_GT(s["rss_kib"].get<uint64_t>(), s["vmm_kib"].get<uint64_t>());

    auto down = vm.api("PUT", "/vm/shutdown", R"({"force":true})");
    ASSERT_TRUE(down);
    EXPECT_EQ(down->status, 202);
    auto code = vm.wait_exit(Millis(10'000));
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
}

TEST_F(BootTest, GracefulShutdownIsCtrlAltDelWhichTheGuestAnswers) {
    auto vm = boot_guest(128, 1, dir());
    auto start = Clock::now();
    auto down = vm.api("PUT", "/vm/shutdown", R"({"timeout_ms":10000})");
    ASSERT_TRUE(down);
    EXPECT_EQ(down->status, 202);
    auto code = vm.wait_exit(Millis(10'000));
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0);
    EXPECT_LT(std::chrono::duration_cast<Millis>(Clock::now() - start).count(), 2000)
        << "the guest powered off itself, long before the forced stop";
}

TEST_F(BootTest, SigtermEndsWithSignalExitCode) {
    auto vm = boot_guest(128, 1, dir());
    ::kill(vm.pid(), SIGTERM);
    auto code = vm.wait_exit(Millis(10'000));
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 128 + SIGTERM);
}

} // namespace
} // namespace brood::test
