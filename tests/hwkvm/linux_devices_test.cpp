// Debian's kernel with real devices, through broodd like a user: its root on
// virtio-blk, the guest agent on vsock; exec in the instance, after its
// restore, and in 10 running forks of a template, each with its own disk
// layer and its own entropy, while the template's disk image never changes.
// The steps share one daemon and one booted guest, in order. Last, a stop of
// an instance of its own: the guest syncs its disk and powers off.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>

#include <unistd.h>

#include "daemon.hpp"
#include "file_hash.hpp"
#include "linux_guest.hpp"

namespace brood::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int kForks = 10;

#define REQUIRE_STEP(done, what) \
    if (!(done)) GTEST_FAIL() << "needs the earlier step that failed: " << (what)

class LinuxDevices : public ::testing::Test {
protected:
    static void TearDownTestSuite() {
        daemon.reset();
        if (!disk.empty()) fs::remove(disk);
    }
    // The images the build makes from the assets and brood-agent (guest/linux/build-images.sh).
    static std::string image(const std::string& name) {
        const char* env = std::getenv("BROOD_GUEST_IMAGES");
        return std::string(env && *env ? env : BROOD_GUEST_IMAGES_DEFAULT) + "/" + name;
    }
    void SetUp() override {
        BROOD_REQUIRE_LINUX_SHELL();
        for (auto name : {kRootImage, kAgentInitrd})
            ASSERT_TRUE(fs::exists(image(name))) << image(name) << " is missing: build the guest-images target";
        if (!daemon) {
            daemon = std::make_unique<brood::testing::Daemon>();
            daemon->start();
        }
    }
    // Runs argv in the guest through the agent; the answer's JSON (or a failure).
    static json exec(const std::string& ref, const std::vector<std::string>& argv) {
        auto r = daemon->call("POST", "/instances/" + ref + "/exec", {{"cmd", argv}, {"timeout_ms", 60'000}});
        EXPECT_EQ(r.status, 200) << ref << ": " << r.text;
        return r.status == 200 ? r.body : json::object();
    }
    static std::string sh(const std::string& ref, const std::string& script) {
        auto answer = exec(ref, {"/bin/sh", "-c", script});
        EXPECT_EQ(answer.value("exit_code", -1), 0) << ref << ": " << script << ": " << answer.dump();
        std::string out = answer.value("stdout", "");
        while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
        return out;
    }
    static std::string fork_name(int i) { return "df-" + std::to_string(i); }
    static json instance_on(const std::string& name, const std::string& disk_path) {
        return {{"name", name},
                {"kernel", asset("vmlinux")},
                {"initrd", image(kAgentInitrd)},
                {"cmdline", std::string(kLinuxCmdline) + " root=/dev/vda"},
                {"memory_mib", 256},
                {"vcpus", 1},
                {"disks", json::array({{{"path", disk_path}}})},
                {"agent", true}};
    }
    // Creates and starts instance `name` on a copy of the root image (its
    // path in `copy`), and waits for its ready line.
    static void boot_on_own_disk(const std::string& name, std::string& copy) {
        copy = fs::temp_directory_path() / ("brood-lane-" + name + "-" + std::to_string(::getpid()) + ".ext4");
        fs::copy_file(image(kRootImage), copy, fs::copy_options::overwrite_existing);
        auto r = daemon->call("POST", "/instances", instance_on(name, copy));
        ASSERT_EQ(r.status, 201) << r.text;
        auto started = daemon->call("POST", "/instances/" + name + "/start");
        ASSERT_EQ(started.status, 200) << started.text;
        ASSERT_TRUE(daemon->wait_guest_ready(name, 0, 120'000, "brood-rootfs ready", kBootQuietLimitMs))
            << daemon->call("GET", "/instances/" + name + "/logs").text;
    }
    // Whether the file holds these bytes anywhere (read 1 MiB at a time).
    static bool file_holds(const std::string& path, const std::string& needle) {
        std::ifstream in(path, std::ios::binary);
        std::string window, chunk(1 << 20, '\0');
        while (in.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || in.gcount() > 0) {
            window.append(chunk.data(), static_cast<size_t>(in.gcount()));
            if (window.find(needle) != std::string::npos) return true;
            window.erase(0, window.size() - std::min(window.size(), needle.size()));
        }
        return false;
    }

    static constexpr const char* kRootImage = "rootfs.ext4";
    static constexpr const char* kAgentInitrd = "initrd-agent.cpio.gz";
    static inline std::unique_ptr<brood::testing::Daemon> daemon;
    static inline std::string disk; // the instance's own copy of the root image
    static inline bool booted = false, restored = false, forked = false;
    static inline uint64_t template_disk_hash = 0;
};

TEST_F(LinuxDevices, BootsWithItsRootOnVirtioBlkAndTheAgentAnswers) {
    ASSERT_NO_FATAL_FAILURE(boot_on_own_disk("dev", disk));
    auto hello = exec("dev", {"/bin/echo", "hello", "from", "the", "agent"});
    EXPECT_EQ(hello.value("stdout", ""), "hello from the agent\n") << hello.dump();
    EXPECT_EQ(hello.value("exit_code", -1), 0);
    // The root file system is the virtio disk.
    EXPECT_EQ(sh("dev", "awk '$2 == \"/\" {print $1}' /proc/mounts"), "/dev/vda");
    EXPECT_EQ(sh("dev", "echo from-$((40+2)) >/on-disk && sync && cat /on-disk"), "from-42");
    auto failing = exec("dev", {"/bin/sh", "-c", "echo oops >&2; exit 7"});
    EXPECT_EQ(failing.value("exit_code", -1), 7);
    EXPECT_EQ(failing.value("stderr", ""), "oops\n");
    booted = !HasFailure();
}

TEST_F(LinuxDevices, ExecWorksAfterStandbyAndRestore) {
    REQUIRE_STEP(booted, "boot");
    ASSERT_EQ(daemon->call("POST", "/instances/dev/standby").status, 200);
    auto back = daemon->call("POST", "/instances/dev/restore");
    ASSERT_EQ(back.status, 200) << back.text;
    EXPECT_EQ(sh("dev", "cat /on-disk"), "from-42") << "the disk lost a synced write across standby";
    EXPECT_EQ(sh("dev", "echo after-restore"), "after-restore");
    restored = !HasFailure();
}

TEST_F(LinuxDevices, TenForksAnswerExecAtOnce) {
    REQUIRE_STEP(restored, "standby and restore");
    ASSERT_EQ(daemon->call("POST", "/instances/dev/standby").status, 200);
    template_disk_hash = file_hash(disk);
    auto tpl = daemon->call("POST", "/templates", {{"instance", "dev"}, {"name", "dev-tpl"}});
    ASSERT_EQ(tpl.status, 201) << tpl.text;
    auto fan = daemon->call("POST", "/templates/dev-tpl/fork", {{"name_prefix", "df"}, {"count", kForks}});
    ASSERT_EQ(fan.status, 201) << fan.text;
    ASSERT_EQ(fan.body["instances"].size(), static_cast<size_t>(kForks)) << fan.text;
    std::set<int64_t> cids;
    for (const auto& fork : fan.body["instances"]) {
        EXPECT_EQ(fork["state"], "Running") << fork.dump();
        if (fork.contains("vsock_cid")) cids.insert(fork["vsock_cid"].get<int64_t>());
    }
    EXPECT_EQ(cids.size(), static_cast<size_t>(kForks)) << "forks must have a vsock CID each";
    // Exec right after the fork was reported Running: no waiting.
    for (int i = 1; i <= kForks; ++i) EXPECT_EQ(sh(fork_name(i), "cat /on-disk"), "from-42") << fork_name(i);
    forked = !HasFailure();
}

TEST_F(LinuxDevices, EachForkWritesItsOwnDiskLayer) {
    REQUIRE_STEP(forked, "fan-out");
    for (int i = 1; i <= kForks; ++i) sh(fork_name(i), "echo " + fork_name(i) + " >/whoami && sync");
    for (int i = 1; i <= kForks; ++i) EXPECT_EQ(sh(fork_name(i), "cat /whoami"), fork_name(i));
}

TEST_F(LinuxDevices, ForksDrawDifferentRandomBytes) {
    REQUIRE_STEP(forked, "fan-out");
    std::set<std::string> seen;
    for (int i = 1; i <= kForks; ++i) {
        std::string bytes = sh(fork_name(i), "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'");
        EXPECT_EQ(bytes.size(), 64u) << fork_name(i) << ": " << bytes;
        seen.insert(bytes);
    }
    EXPECT_EQ(seen.size(), static_cast<size_t>(kForks)) << "two forks read the same first bytes of /dev/urandom";
}

TEST_F(LinuxDevices, TheTemplateDiskImageIsUnchanged) {
    REQUIRE_STEP(forked, "fan-out");
    EXPECT_EQ(file_hash(disk), template_disk_hash) << "a fork wrote to the template's disk image";
}

TEST_F(LinuxDevices, EverythingDeletes) {
    REQUIRE_STEP(booted, "boot");
    for (int i = 1; i <= kForks; ++i) {
        auto r = daemon->call("DELETE", "/instances/" + fork_name(i));
        EXPECT_TRUE(r.status == 204 || r.status == 404) << fork_name(i) << ": " << r.text;
    }
    auto tpl = daemon->call("DELETE", "/templates/dev-tpl");
    EXPECT_TRUE(tpl.status == 204 || tpl.status == 404) << tpl.text;
    EXPECT_EQ(daemon->call("DELETE", "/instances/dev").status, 204);
    EXPECT_TRUE(brood::testing::vmm_processes(daemon->guests_dir()).empty());
    EXPECT_TRUE(fs::exists(disk)) << "deleting an instance removed the user's disk image";
}

// A graceful stop reaches the guest as Ctrl+Alt+Del; the root disk's init
// then syncs and powers off, so a write the guest never synced is on the
// disk afterwards, and brood-vmm never had to force the power off.
TEST_F(LinuxDevices, AStopSyncsTheDiskAndPowersOff) {
    std::string own;
    ASSERT_NO_FATAL_FAILURE(boot_on_own_disk("stopper", own));
    const std::string token = "written-before-a-graceful-stop-" + std::to_string(::getpid());
    sh("stopper", "echo " + token + " >/unsynced"); // no sync: only the shutdown writes it out

    const auto asked = std::chrono::steady_clock::now();
    auto stopped = daemon->call("POST", "/instances/stopper/stop", {{"timeout_ms", 120'000}});
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - asked).count();
    ASSERT_EQ(stopped.status, 200) << stopped.text;
    EXPECT_EQ(stopped.body["state"], "Stopped") << stopped.text;
    EXPECT_EQ(stopped.body["last_exit"].value("exit_code", -1), 0) << "the guest did not power off: " << stopped.text;
    const std::string logs = daemon->call("GET", "/instances/stopper/logs").text;
    EXPECT_NE(logs.find("init: Ctrl+Alt+Del: syncing the disk and powering off"), std::string::npos)
        << "the guest did not answer Ctrl+Alt+Del; the stop took " << took << " ms (forced after 120000)\n"
        << logs;
    EXPECT_TRUE(file_holds(own, token)) << "a write the guest had not synced was lost in the stop";
    EXPECT_EQ(daemon->call("DELETE", "/instances/stopper").status, 204);
    fs::remove(own);
}

} // namespace
} // namespace brood::test
