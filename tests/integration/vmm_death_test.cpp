// A VMM killed (kill -9) at each step of standby, restore, start and fork:
// the answer is 502 vmm_died with the exit reason, the instance ends Failed
// with that reason, and nothing leaks (directories, processes, fork counts).
// The API is served from this process so that a hook (manager/vmm_steps.hpp)
// kills the VMM exactly at the named step.
#include <algorithm>
#include <mutex>

#include "fork_fixture.hpp"

using namespace brood::testing;
using brood::manager::VmmStep;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

class VmmDeath : public Forks {
protected:
    void SetUp() override {
        if (!have_kvm()) GTEST_SKIP() << "needs /dev/kvm (read-write) to run brood-vmm";
        daemon.start_in_process([this](VmmStep step, const std::string& name, pid_t pid) {
            std::lock_guard lock(_mutex);
            if (step != _step || name != _victim) return;
            _victim.clear(); // once
            kill9_and_wait(pid);
            ++kills;
        });
    }
    // The next time `victim`'s VMM reaches `step`, it is killed.
    void arm(VmmStep step, const std::string& victim) {
        std::lock_guard lock(_mutex);
        _step = step;
        _victim = victim;
    }
    // A 502 vmm_died that says the VMM was killed.
    void expect_died(const Reply& r) const {
        EXPECT_EQ(r.status, 502) << r.text;
        EXPECT_EQ(r.body.value("code", ""), "vmm_died") << r.text;
        EXPECT_NE(r.body.value("message", "").find("signal 9"), std::string::npos) << r.text;
    }
    void expect_failed_by_kill(const std::string& name) const {
        auto view = daemon.call("GET", "/instances/" + name);
        ASSERT_EQ(view.status, 200) << view.text;
        EXPECT_EQ(view.body["state"], "Failed") << view.text;
        EXPECT_NE(view.body.value("failure_reason", json("")).dump().find("signal 9"), std::string::npos)
            << view.text;
        EXPECT_TRUE(view.body["pid"].is_null());
    }

    int kills = 0;

private:
    std::mutex _mutex;
    VmmStep _step = VmmStep::spawned;
    std::string _victim;
};

std::string step_name(VmmStep step) { return std::string(brood::manager::to_string(step)); }

} // namespace

TEST_F(VmmDeath, StandbyWhoseVmmDiesAnswers502AndLeavesItFailed) {
    for (VmmStep step : {VmmStep::standby_pause, VmmStep::standby_snapshot}) {
        SCOPED_TRACE(step_name(step));
        std::string name = "sb-" + step_name(step);
        std::replace(name.begin(), name.end(), '_', '-');
        running(name);
        EXPECT_EQ(daemon.console(name, "count", "count"), "count 1\n");
        arm(step, name);
        expect_died(daemon.call("POST", "/instances/" + name + "/standby"));
        expect_failed_by_kill(name);
        EXPECT_FALSE(daemon.call("GET", "/instances/" + name).body.value("snapshot_present", true));
        expect_consistent(daemon);
        // A Failed instance boots again.
        size_t from = daemon.log_size(name);
        ASSERT_EQ(daemon.call("POST", "/instances/" + name + "/start").status, 200);
        ASSERT_TRUE(daemon.wait_guest_ready(name, from));
    }
    // Once the snapshot is written the VMM is not needed any more.
    running("late");
    EXPECT_EQ(daemon.console("late", "count", "count"), "count 1\n");
    arm(VmmStep::standby_install, "late");
    auto r = daemon.call("POST", "/instances/late/standby");
    EXPECT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["state"], "Standby");
    ASSERT_EQ(daemon.call("POST", "/instances/late/restore").status, 200);
    EXPECT_EQ(daemon.console("late", "count", "count"), "count 2\n");
    EXPECT_EQ(kills, 3);
    expect_consistent(daemon);
}

TEST_F(VmmDeath, RestoreAndStartWhoseVmmDiesAnswer502AndLeaveItFailed) {
    for (VmmStep step : {VmmStep::spawned, VmmStep::ready}) {
        SCOPED_TRACE(step_name(step));
        std::string name = "rs-" + step_name(step);
        running(name);
        EXPECT_EQ(daemon.console(name, "count", "count"), "count 1\n");
        ASSERT_EQ(daemon.call("POST", "/instances/" + name + "/standby").status, 200);
        arm(step, name);
        expect_died(daemon.call("POST", "/instances/" + name + "/restore"));
        expect_failed_by_kill(name);
        expect_consistent(daemon);
        arm(step, name);
        expect_died(daemon.call("POST", "/instances/" + name + "/start"));
        expect_failed_by_kill(name);
        EXPECT_FALSE(daemon.call("GET", "/instances/" + name).body.value("snapshot_present", true))
            << "a cold boot drops the snapshot";
        expect_consistent(daemon);
        size_t from = daemon.log_size(name);
        ASSERT_EQ(daemon.call("POST", "/instances/" + name + "/start").status, 200);
        ASSERT_TRUE(daemon.wait_guest_ready(name, from));
        EXPECT_EQ(daemon.console(name, "count", "count"), "count 1\n");
    }
    EXPECT_EQ(kills, 4);
    expect_consistent(daemon);
}

TEST_F(VmmDeath, FromRunningForkWhoseVmmDiesAtEachStepAnswers502) {
    struct Case {
        VmmStep step;
        bool kill_fork; // else the source's VMM
    };
    int round = 0;
    for (Case c : {Case{VmmStep::standby_pause, false}, Case{VmmStep::standby_snapshot, false},
                   Case{VmmStep::spawned, true}, Case{VmmStep::ready, true}, Case{VmmStep::spawned, false},
                   Case{VmmStep::ready, false}}) {
        std::string source = "src-" + std::to_string(++round), fork = "copy-" + std::to_string(round);
        SCOPED_TRACE(step_name(c.step) + (c.kill_fork ? " of the fork" : " of the source"));
        running(source);
        EXPECT_EQ(daemon.console(source, "count", "count"), "count 1\n");
        arm(c.step, c.kill_fork ? fork : source);
        auto r = daemon.call("POST", "/instances/" + source + "/fork", {{"name", fork}, {"from_running", true}});
        expect_died(r);
        bool source_restore = !c.kill_fork && (c.step == VmmStep::spawned || c.step == VmmStep::ready);
        bool fork_made = source_restore;
        EXPECT_EQ(daemon.call("GET", "/instances/" + fork).status, fork_made ? 200 : 404) << r.text;
        if (c.kill_fork) {
            EXPECT_NE(r.body.value("message", "").find(fork), std::string::npos) << r.text;
            EXPECT_EQ(state_of(source), "Running") << "the source is restored after a failed fork";
            EXPECT_EQ(daemon.console(source, "count", "count"), "count 2\n");
        } else {
            expect_failed_by_kill(source);
        }
        if (fork_made) {
            EXPECT_NE(r.body.value("message", "").find("was made"), std::string::npos) << r.text;
            EXPECT_EQ(state_of(fork), "Running");
            EXPECT_EQ(daemon.console(fork, "count", "count"), "count 2\n");
        }
        expect_consistent(daemon);
    }
    EXPECT_EQ(kills, 6);
}

TEST_F(VmmDeath, TemplateForkWhoseVmmDiesIsListedAsFailedAndUncounted) {
    make_template();
    for (VmmStep step : {VmmStep::spawned, VmmStep::ready}) {
        SCOPED_TRACE(step_name(step));
        arm(step, "tf-2");
        auto r = daemon.call("POST", "/templates/tpl/fork", {{"name_prefix", "tf"}, {"count", 3}});
        EXPECT_EQ(r.status, 201) << r.text;
        ASSERT_EQ(r.body["errors"].size(), 1u) << r.text;
        EXPECT_EQ(r.body["errors"][0]["name"], "tf-2");
        EXPECT_EQ(r.body["errors"][0]["status"], 502);
        EXPECT_EQ(r.body["errors"][0]["code"], "vmm_died");
        EXPECT_EQ(daemon.call("GET", "/instances/tf-2").status, 404);
        EXPECT_EQ(fork_count(), 2);
        expect_consistent(daemon);
        // Alone, the failure is the answer.
        arm(step, "solo");
        auto solo = daemon.call("POST", "/templates/tpl/fork", {{"name", "solo"}});
        expect_died(solo);
        EXPECT_TRUE(solo.body["instances"].empty()) << solo.text;
        EXPECT_EQ(fork_count(), 2);
        for (const char* name : {"tf-1", "tf-3"}) EXPECT_EQ(daemon.call("DELETE", std::string("/instances/") + name).status, 204);
        EXPECT_EQ(fork_count(), 0);
        expect_consistent(daemon);
    }
    EXPECT_EQ(kills, 4);
}
