// Admission control on a real daemon: --max-instances, --memory-budget-mib
// and --fork-overcommit. A request that would pass a limit is refused whole
// (409) and makes nothing.
#include "fork_fixture.hpp"

using namespace brood::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

class Admission : public Forks {
protected:
    void SetUp() override {
        if (!have_kvm()) GTEST_SKIP() << "needs /dev/kvm (read-write) to run brood-vmm";
        // The template's source has 128 MiB: each of its forks counts 64 MiB.
        daemon.start({"--max-instances", "6", "--memory-budget-mib", "320", "--fork-overcommit", "2"});
    }
    size_t instance_count() const { return daemon.call("GET", "/instances").body.size(); }
    size_t guest_dirs() const {
        return static_cast<size_t>(std::distance(fs::directory_iterator(daemon.guests_dir()), {}));
    }
    Reply create(const std::string& name, int memory_mib) const {
        return daemon.call("POST", "/instances",
                           {{"name", name}, {"kernel", guest_kernel()}, {"memory_mib", memory_mib}, {"vcpus", 1}});
    }
    Reply fan_out(const std::string& prefix, int count) const {
        return daemon.call("POST", "/templates/tpl/fork",
                           {{"name_prefix", prefix}, {"count", count}, {"target_state", "Standby"}});
    }
};

TEST_F(Admission, FanOutsAndCreatesPastALimitAreRefusedWhole) {
    make_template(); // 1 instance, 128 MiB in use

    // 4 forks x 64 MiB = 256 MiB: over the budget, though 3 of them would fit.
    expect_conflict(fan_out("big", 4), "over_budget",
                    "256 MiB of guest memory requested for 4 instances, 128 MiB in use, the memory budget is 320 MiB");
    EXPECT_EQ(fork_count(), 0);
    EXPECT_EQ(instance_count(), 1u);
    EXPECT_EQ(guest_dirs(), 1u) << "no fork directory was made";

    ASSERT_EQ(fan_out("ok", 2).status, 201); // 3 instances, 256 MiB
    EXPECT_EQ(fork_count(), 2);

    // A full instance counts all of its memory.
    expect_conflict(create("full", 128), "over_budget",
                    "128 MiB of guest memory requested for 1 instance, 256 MiB in use, the memory budget is 320 MiB");
    EXPECT_EQ(create("small", 64).status, 201); // 4 instances, 320 MiB: the budget exactly

    // The instance limit: 4 exist, 3 more would make 7.
    expect_conflict(fan_out("many", 3), "too_many_instances", "3 new instances requested, 4 exist, the limit is 6");
    EXPECT_EQ(fork_count(), 2);
    EXPECT_EQ(instance_count(), 4u);
    EXPECT_EQ(guest_dirs(), 4u);

    // A delete gives its room back.
    ASSERT_EQ(daemon.call("DELETE", "/instances/ok-1").status, 204);
    EXPECT_EQ(fan_out("again", 1).status, 201);
    EXPECT_EQ(fork_count(), 2);
    expect_conflict(create("late", 16), "over_budget", "16 MiB of guest memory requested");
}

TEST_F(Admission, InstanceForksCountTheirWholeMemory) {
    running("src");
    ASSERT_EQ(daemon.call("POST", "/instances/src/standby").status, 200);
    // An instance fork copies its source's memory: 128 MiB + 128 MiB fits, a third does not.
    auto first = daemon.call("POST", "/instances/src/fork", {{"name", "copy-1"}});
    ASSERT_EQ(first.status, 201) << first.text;
    auto second = daemon.call("POST", "/instances/src/fork", {{"name", "copy-2"}});
    expect_conflict(second, "over_budget", "128 MiB of guest memory requested for 1 instance, 256 MiB in use");
    EXPECT_EQ(instance_count(), 2u);
    EXPECT_EQ(guest_dirs(), 2u);
}

} // namespace
