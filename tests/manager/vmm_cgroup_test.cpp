// VMM cgroups: where they are made on cgroup v1 and v2 (fake trees), the
// limits written, and a real VMM-like child joining them and leaving no
// cgroup behind.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "common/read_file.hpp"
#include "manager/vmm_cgroup.hpp"
#include "manager/vmm_process.hpp"

using namespace brood::manager;
namespace fs = std::filesystem;

namespace {

class FakeCgroupFs : public ::testing::Test {
protected:
    void SetUp() override {
        root = fs::temp_directory_path() / ("brood-cgroupfs-" + std::to_string(::getpid()));
        fs::remove_all(root);
        fs::create_directories(root);
    }
    void TearDown() override { fs::remove_all(root); }
    void write(const fs::path& path, const std::string& text) {
        fs::create_directories(path.parent_path());
        std::ofstream(path) << text;
    }
    std::string read(const fs::path& path) { return brood::read_file(path.string()).value_or("<missing>"); }
    fs::path root;
};

} // namespace

TEST(VmmLimits, GuestMemoryPlusOverheadAndThreadsPlusRoom) {
    CgroupLimits limits = vmm_limits(512, 2);
    EXPECT_EQ(limits.memory_bytes, (512ull + 128) << 20);
    EXPECT_EQ(limits.pids, 18u);
}

TEST_F(FakeCgroupFs, OnV1TheCgroupsAreMadeBelowBrooddsOwnInBothHierarchies) {
    write(root / "memory/cgroup.procs", "");
    write(root / "memory/outer/inner/cgroup.procs", ""); // broodd's own
    write(root / "pids/cgroup.procs", "");
    auto cgroups = VmmCgroups::setup(root.string(), "8:pids:/\n4:memory:/outer/inner\n0::/\n", "brood-d");
    ASSERT_TRUE(cgroups) << cgroups.error().message();
    EXPECT_FALSE(cgroups->v2());
    auto joins = cgroups->prepare("abc", {256ull << 20, 20});
    ASSERT_TRUE(joins) << joins.error().message();
    const fs::path memory = root / "memory/outer/inner/brood-d/brood-vmm-abc", pids = root / "pids/brood-d/brood-vmm-abc";
    EXPECT_EQ(*joins, (std::vector<std::string>{(memory / "tasks").string(), (pids / "tasks").string()}));
    EXPECT_EQ(read(memory / "memory.limit_in_bytes"), std::to_string(256ull << 20));
    EXPECT_EQ(read(pids / "pids.max"), "20");
}

TEST_F(FakeCgroupFs, OnV2InALeafNamedBrooddTheCgroupsAreItsSiblings) {
    write(root / "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma\n");
    write(root / "system.slice/broodd.service/cgroup.subtree_control", "");
    auto cgroups = VmmCgroups::setup(root.string(), "0::/system.slice/broodd.service/broodd\n", "brood-d");
    ASSERT_TRUE(cgroups) << cgroups.error().message();
    EXPECT_TRUE(cgroups->v2());
    EXPECT_EQ(read(root / "system.slice/broodd.service/cgroup.subtree_control"), "+memory +pids");
    EXPECT_EQ(read(root / "system.slice/broodd.service/brood-d/cgroup.subtree_control"), "+memory +pids");
    auto joins = cgroups->prepare("abc", {1ull << 30, 9});
    ASSERT_TRUE(joins) << joins.error().message();
    const fs::path dir = root / "system.slice/broodd.service/brood-d/brood-vmm-abc";
    EXPECT_EQ(*joins, std::vector<std::string>{(dir / "cgroup.procs").string()});
    EXPECT_EQ(read(dir / "memory.max"), std::to_string(1ull << 30));
    EXPECT_EQ(read(dir / "pids.max"), "9");
    // At daemon start, cgroups of VMMs that are gone are swept; kept ones stay.
    fs::create_directories(root / "system.slice/broodd.service/brood-d/brood-vmm-gone");
    fs::create_directories(root / "system.slice/broodd.service/brood-d/unrelated");
    fs::remove(dir / "memory.max");
    fs::remove(dir / "pids.max");
    EXPECT_EQ(cgroups->sweep([](const std::string& id) { return id == "abc"; }), 1);
    EXPECT_FALSE(fs::exists(root / "system.slice/broodd.service/brood-d/brood-vmm-gone"));
    EXPECT_TRUE(fs::exists(dir));
    EXPECT_TRUE(fs::exists(root / "system.slice/broodd.service/brood-d/unrelated"));
}

TEST_F(FakeCgroupFs, OnV2OutsideALeafTheCgroupsAreItsChildren) {
    write(root / "cgroup.controllers", "memory pids\n");
    write(root / "user.slice/cgroup.subtree_control", "memory pids\n");
    auto cgroups = VmmCgroups::setup(root.string(), "0::/user.slice\n", "brood-d");
    ASSERT_TRUE(cgroups) << cgroups.error().message();
    EXPECT_EQ(cgroups->dirs_of("x"), std::vector<std::string>{(root / "user.slice/brood-d/brood-vmm-x").string()});
}

TEST_F(FakeCgroupFs, WithoutEitherTheReasonIsSaid) {
    write(root / "cgroup.controllers", "cpu io\n"); // v2 without memory and pids, and no v1
    auto cgroups = VmmCgroups::setup(root.string(), "0::/\n", "brood-d");
    ASSERT_FALSE(cgroups);
    EXPECT_NE(cgroups.error().message().find("neither cgroup v2"), std::string::npos) << cgroups.error().message();
    // A forged /proc/self/cgroup path cannot climb out of the hierarchy.
    write(root / "memory/cgroup.procs", "");
    write(root / "pids/cgroup.procs", "");
    EXPECT_FALSE(VmmCgroups::setup(root.string(), "4:memory:/../../etc\n8:pids:/\n", "brood-d"));
}

// The real cgroup file system (root, with cgroup v2 or v1's memory and
// pids): the cgroups can be made, joined, and removed once their process
// has gone.
TEST(VmmCgroupsOnThisHost, TheyAreMadeJoinedAndRemovedAfter) {
    if (::geteuid() != 0) GTEST_SKIP() << "making cgroups needs root";
    const std::string group = daemon_group("/tmp/brood-cgroup-test-" + std::to_string(::getpid()));
    auto cgroups = VmmCgroups::setup("/sys/fs/cgroup", brood::read_file("/proc/self/cgroup").value_or(""), group);
    ASSERT_TRUE(cgroups) << "this machine has writable cgroups as root: " << cgroups.error().message();
    const std::string id = "test-" + std::to_string(::getpid());
    auto joins = cgroups->prepare(id, vmm_limits(64, 1));
    ASSERT_TRUE(joins) << joins.error().message();
    const std::string log = "/tmp/brood-cgroup-child-" + std::to_string(::getpid()) + ".log";
    for (bool own_pid_namespace : {true, false}) {
        // The child joins them itself, as brood-vmm --jail-cgroup does.
        std::string join;
        for (const auto& file : *joins) join += "echo 0 > " + file + "; ";
        SpawnSpec spec{"/bin/sh", {"-c", join + "cat /proc/self/cgroup; echo ready >&$2; exec 3>&-", "child"}, log,
                       5'000, own_pid_namespace, {}};
        fs::remove(log);
        auto child = VmmProcess::spawn(spec);
        ASSERT_TRUE(child) << child.error().message();
        ASSERT_TRUE((*child)->wait_exit(5'000));
        std::string seen = brood::read_file(log).value_or("");
        EXPECT_NE(seen.find("/brood-vmm-" + id), std::string::npos) << "own_pid_namespace=" << own_pid_namespace
                                                                    << "; its /proc/self/cgroup:\n" << seen;
    }
    fs::remove(log);
    cgroups->remove(id);
    for (const auto& dir : cgroups->dirs_of(id)) EXPECT_FALSE(fs::exists(dir)) << dir;
    cgroups->remove_group();
    for (const auto& dir : cgroups->dirs_of(id)) EXPECT_FALSE(fs::exists(fs::path(dir).parent_path())) << dir;
}

TEST(DaemonGroup, StableAndDifferentPerDataDirectory) {
    EXPECT_EQ(daemon_group("/var/lib/brood"), daemon_group("/var/lib/brood"));
    EXPECT_NE(daemon_group("/var/lib/brood"), daemon_group("/var/lib/brood2"));
    EXPECT_EQ(daemon_group("/var/lib/brood").rfind("brood-", 0), 0u);
}
