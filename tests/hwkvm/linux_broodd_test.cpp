// Debian's kernel through broodd, like a user: console, standby and restore
// of a live shell, a template with 10 running forks that each keep their own
// files, and the template's memory file left as it was. The steps share one
// daemon and one booted guest (a boot is the slow part), in order.
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>

#include "daemon.hpp"
#include "file_hash.hpp"
#include "linux_guest.hpp"

namespace brood::test {
namespace {

using nlohmann::json;
using testing_daemon = brood::testing::Daemon;

constexpr int kForks = 10;

// Later steps build on earlier ones: without them they fail at once.
#define REQUIRE_STEP(done, what) \
    if (!(done)) GTEST_FAIL() << "needs the earlier step that failed: " << (what)

class LinuxThroughBroodd : public ::testing::Test {
protected:
    static void SetUpTestSuite() {}
    static void TearDownTestSuite() { daemon.reset(); }
    void SetUp() override {
        BROOD_REQUIRE_LINUX_SHELL();
        if (!daemon) {
            daemon = std::make_unique<testing_daemon>();
            daemon->start();
        }
    }
    static std::string console(const std::string& ref, const std::string& input, const std::string& until) {
        return daemon->console(ref, input, until, 60'000);
    }
    static std::string memory_of(const std::string& id) {
        return daemon->guests_dir() + "/" + id + "/snapshots/snapshot-latest/memory";
    }
    // "<tag>-42=" appears only in the answer, not in the echoed command.
    static std::string value(const std::string& ref, const std::string& tag, const std::string& expr) {
        std::string out = console(ref, "echo " + tag + "-$((40+2))=$(" + expr + ")", tag + "-42=");
        auto at = out.find(tag + "-42=");
        if (at == std::string::npos) return "";
        std::string v = out.substr(at + tag.size() + 4);
        return v.substr(0, v.find_first_of("\r\n"));
    }
    static double uptime(const std::string& ref) {
        std::string v = value(ref, "up", "cut -d' ' -f1 /proc/uptime");
        return v.empty() ? -1 : std::stod(v);
    }

    static inline std::unique_ptr<testing_daemon> daemon;
    static inline bool booted = false, restored = false, forked = false;
    static inline std::string template_hash;
    static inline std::string source_id;
};

TEST_F(LinuxThroughBroodd, BootsAndAnswersOnTheConsole) {
    auto r = daemon->call("POST", "/instances",
                          {{"name", "linux"}, {"kernel", asset("vmlinux")}, {"initrd", asset("initrd.cpio.gz")},
                           {"cmdline", kLinuxCmdline}, {"memory_mib", 256}, {"vcpus", 1}});
    ASSERT_EQ(r.status, 201) << r.text;
    source_id = r.body["id"];
    auto started = daemon->call("POST", "/instances/linux/start");
    ASSERT_EQ(started.status, 200) << started.text;
    ASSERT_TRUE(daemon->wait_guest_ready("linux", 0, 200'000, "brood-initrd ready", kBootQuietLimitMs))
        << daemon->call("GET", "/instances/linux/logs").text;
    EXPECT_NE(console("linux", "echo hello-$((6*7))", "hello-42").find("hello-42"), std::string::npos);
    booted = !HasFailure();
}

TEST_F(LinuxThroughBroodd, StandbyAndRestoreKeepTheSameShell) {
    REQUIRE_STEP(booted, "boot");
    // A shell variable only this shell has, and its clock.
    console("linux", "MARK=shell-$((1000+234))", "#");
    const double before = uptime("linux");
    ASSERT_GT(before, 0);
    // The DSDT's VM generation device, and its GPE, which each restore raises.
    EXPECT_EQ(value("linux", "vgen", "ls /sys/bus/acpi/devices | grep -c BROD0001"), "1");
    EXPECT_EQ(value("linux", "acpierr", "dmesg | grep -c 'ACPI Error'"), "0") << value("linux", "dm", "dmesg | grep ACPI");
    const std::string gpe = "awk '{print $1}' /sys/firmware/acpi/interrupts/gpe00";
    const std::string gpe_before = value("linux", "gpe", gpe);
    ASSERT_FALSE(gpe_before.empty());
    const std::string clocksource = "cat /sys/devices/system/clocksource/clocksource0/current_clocksource";
    const std::string clock_before = value("linux", "cs", clocksource);
    ASSERT_FALSE(clock_before.empty());
    const std::string unstable = "dmesg | grep -c 'as unstable'";
    const std::string unstable_before = value("linux", "unstable", unstable);
    ASSERT_FALSE(unstable_before.empty());
    auto standby = daemon->call("POST", "/instances/linux/standby");
    ASSERT_EQ(standby.status, 200) << standby.text;
    EXPECT_EQ(standby.body["state"], "Standby");
    auto back = daemon->call("POST", "/instances/linux/restore");
    ASSERT_EQ(back.status, 200) << back.text;
    EXPECT_EQ(back.body["state"], "Running");
    EXPECT_EQ(value("linux", "mark", "echo $MARK"), "shell-1234") << "the restored guest is not the same shell";
    EXPECT_GT(std::stoul("0" + value("linux", "gpe", gpe)), std::stoul("0" + gpe_before))
        << "the restore raised no VM generation GPE";
    // A restored clock the guest cannot trust would make it give up its
    // clocksource, or mark the TSC it watches unstable.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500)); // three watchdog rounds
    EXPECT_EQ(value("linux", "cs", clocksource), clock_before)
        << value("linux", "dm", "dmesg | grep -i clocksource | tail -n 8");
    EXPECT_EQ(value("linux", "unstable", unstable), unstable_before)
        << value("linux", "dm", "dmesg | grep -i -A3 unstable | tail -n 8");
    const double after = uptime("linux");
    EXPECT_GE(after, before) << "/proc/uptime went back: the guest booted again";
    EXPECT_LT(after, before + 120) << "/proc/uptime jumped";
    restored = !HasFailure();
}

TEST_F(LinuxThroughBroodd, TemplateFansOutTenRunningForks) {
    REQUIRE_STEP(restored, "standby and restore");
    ASSERT_EQ(daemon->call("POST", "/instances/linux/standby").status, 200);
    template_hash = std::to_string(file_hash(memory_of(source_id)));
    auto tpl = daemon->call("POST", "/templates", {{"instance", "linux"}, {"name", "linux-tpl"}});
    ASSERT_EQ(tpl.status, 201) << tpl.text;
    auto fan = daemon->call("POST", "/templates/linux-tpl/fork", {{"name_prefix", "lf"}, {"count", kForks}});
    ASSERT_EQ(fan.status, 201) << fan.text;
    ASSERT_EQ(fan.body["instances"].size(), static_cast<size_t>(kForks)) << fan.text;
    for (const auto& fork : fan.body["instances"]) EXPECT_EQ(fork["state"], "Running") << fork.dump();
    EXPECT_EQ(daemon->call("GET", "/templates/linux-tpl").body["fork_count"], kForks);
    for (int i = 1; i <= kForks; ++i) {
        const std::string name = "lf-" + std::to_string(i);
        EXPECT_EQ(value(name, "mark", "echo $MARK"), "shell-1234") << name << " is not a fork of the shell";
    }
    forked = !HasFailure();
}

TEST_F(LinuxThroughBroodd, EachForkKeepsItsOwnFiles) {
    REQUIRE_STEP(forked, "fan-out");
    for (int i = 1; i <= kForks; ++i) {
        const std::string name = "lf-" + std::to_string(i);
        console(name, "echo " + name + " >/tmp/whoami", "#");
    }
    for (int i = 1; i <= kForks; ++i) {
        const std::string name = "lf-" + std::to_string(i);
        EXPECT_EQ(value(name, "who", "cat /tmp/whoami"), name);
    }
}

TEST_F(LinuxThroughBroodd, TheTemplateMemoryFileIsUnchanged) {
    REQUIRE_STEP(forked, "fan-out");
    EXPECT_EQ(std::to_string(file_hash(memory_of(source_id))), template_hash);
}

TEST_F(LinuxThroughBroodd, EverythingDeletes) {
    REQUIRE_STEP(booted, "boot");
    for (int i = 1; i <= kForks; ++i) {
        const std::string name = "lf-" + std::to_string(i);
        auto r = daemon->call("DELETE", "/instances/" + name);
        EXPECT_TRUE(r.status == 204 || r.status == 404) << name << ": " << r.text;
    }
    auto tpl = daemon->call("DELETE", "/templates/linux-tpl");
    EXPECT_TRUE(tpl.status == 204 || tpl.status == 404) << tpl.text;
    EXPECT_EQ(daemon->call("DELETE", "/instances/linux").status, 204);
    auto list = daemon->call("GET", "/instances");
    EXPECT_TRUE(list.body.empty()) << list.text;
    EXPECT_TRUE(brood::testing::vmm_processes(daemon->guests_dir()).empty());
    std::error_code ec;
    EXPECT_TRUE(std::filesystem::is_empty(daemon->guests_dir(), ec)) << daemon->guests_dir();
}

} // namespace
} // namespace brood::test
