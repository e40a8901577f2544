// Instance forks from each kind of source: Stopped, Standby, Running.
#include "fork_fixture.hpp"

using namespace brood::testing;
using nlohmann::json;
namespace fs = std::filesystem;

TEST_F(Forks, StoppedSourceForkBootsFreshWhenStarted) {
    running("cold");
    EXPECT_EQ(daemon.console("cold", "count", "count"), "count 1\n");
    ASSERT_EQ(daemon.call("POST", "/instances/cold/stop", {{"timeout_ms", 100}}).status, 200);
    auto fork = daemon.call("POST", "/instances/cold/fork", {{"name", "cold-copy"}});
    ASSERT_EQ(fork.status, 201) << fork.text;
    EXPECT_EQ(fork.body["state"], "Stopped") << "default: the source's state";
    EXPECT_NE(fork.body["id"], id_of("cold"));
    EXPECT_TRUE(fork.body["template_id"].is_null());
    EXPECT_FALSE(fs::exists(daemon.guests_dir() + "/" + fork.body["id"].get<std::string>() + "/snapshots"));
    auto standby = daemon.call("POST", "/instances/cold/fork", {{"name", "x"}, {"target_state", "standby"}});
    EXPECT_EQ(standby.body.value("code", ""), "wrong_state") << "a Stopped source has no snapshot to fork into Standby";
    ASSERT_EQ(daemon.call("POST", "/instances/cold-copy/start").status, 200);
    ASSERT_TRUE(daemon.wait_guest_ready("cold-copy"));
    EXPECT_EQ(daemon.console("cold-copy", "count", "count"), "count 1\n") << "a fresh boot";
    // target Running boots it straight away.
    auto hot = daemon.call("POST", "/instances/cold/fork", {{"name", "cold-run"}, {"target_state", "running"}});
    ASSERT_EQ(hot.status, 201) << hot.text;
    EXPECT_EQ(hot.body["state"], "Running");
    ASSERT_TRUE(daemon.wait_guest_ready("cold-run"));
    EXPECT_EQ(state_of("cold"), "Stopped");
    std::string log = daemon.call("GET", "/instances/cold-run/logs").text;
    EXPECT_EQ(log.find("count 1"), std::string::npos) << "a fork starts with its own, fresh logs: " << log;
    expect_consistent(daemon);
}

TEST_F(Forks, StandbySourceForkRestoresFromItsOwnCopy) {
    running("sb");
    EXPECT_EQ(daemon.console("sb", "count", "count"), "count 1\n");
    ASSERT_EQ(daemon.call("POST", "/instances/sb/standby").status, 200);
    auto fork = daemon.call("POST", "/instances/sb/fork", {{"name", "sb-copy"}});
    ASSERT_EQ(fork.status, 201) << fork.text;
    EXPECT_EQ(fork.body["state"], "Standby") << "default: the source's state";
    std::string copy_memory = memory_of(fork.body["id"]);
    EXPECT_FALSE(is_symlink(copy_memory)) << "an instance fork owns a copy";
    uint64_t source_hash = file_hash(memory_of(id_of("sb")));
    EXPECT_EQ(file_hash(copy_memory), source_hash);
    ASSERT_EQ(daemon.call("POST", "/instances/sb-copy/restore").status, 200);
    EXPECT_EQ(arg_after(cmdline_of(daemon.call("GET", "/instances/sb-copy").body["pid"]), "--memory"),
              fs::canonical(copy_memory).string())
        << "the fork restores from its own copy";
    EXPECT_EQ(daemon.console("sb-copy", "count", "count"), "count 2\n");
    EXPECT_EQ(daemon.console("sb-copy", "count", "count"), "count 3\n");
    ASSERT_EQ(daemon.call("POST", "/instances/sb/restore").status, 200);
    EXPECT_EQ(daemon.console("sb", "count", "count"), "count 2\n") << "the source carries on independently";
    // Straight to Running.
    ASSERT_EQ(daemon.call("POST", "/instances/sb/standby").status, 200);
    auto hot = daemon.call("POST", "/instances/sb/fork", {{"name", "sb-run"}, {"target_state", "Running"}});
    ASSERT_EQ(hot.status, 201) << hot.text;
    EXPECT_EQ(hot.body["state"], "Running");
    EXPECT_EQ(daemon.console("sb-run", "count", "count"), "count 3\n");
    expect_consistent(daemon);
}

TEST_F(Forks, RunningSourceIsForkedOnlyWithFromRunningAndBothRun) {
    running("orig");
    EXPECT_EQ(daemon.console("orig", "count", "count"), "count 1\n");
    auto refused = daemon.call("POST", "/instances/orig/fork", {{"name", "copy"}});
    expect_conflict(refused, "wrong_state", "from_running");
    EXPECT_EQ(state_of("orig"), "Running");
    auto fork = daemon.call("POST", "/instances/orig/fork", {{"name", "copy"}, {"from_running", true}});
    ASSERT_EQ(fork.status, 201) << fork.text;
    EXPECT_EQ(fork.body["state"], "Running");
    EXPECT_TRUE(fork.body["template_id"].is_null());
    EXPECT_FALSE(is_symlink(memory_of(fork.body["id"]))) << "an instance fork owns a copy";
    EXPECT_EQ(state_of("orig"), "Running");
    EXPECT_EQ(daemon.console("orig", "count", "count"), "count 2\n");
    EXPECT_EQ(daemon.console("copy", "count", "count"), "count 2\n");
    EXPECT_EQ(daemon.console("copy", "count", "count"), "count 3\n");
    std::string fork_log = daemon.call("GET", "/instances/copy/logs").text;
    EXPECT_EQ(fork_log.find("count 1"), std::string::npos) << "a fork starts with its own, fresh logs: " << fork_log;
    EXPECT_NE(fork_log.find("count 3"), std::string::npos);
    // A failed fork (its name is taken) is reported, and the source is back.
    auto taken = daemon.call("POST", "/instances/orig/fork", {{"name", "copy"}, {"from_running", true}});
    expect_conflict(taken, "name_taken", "copy");
    EXPECT_EQ(state_of("orig"), "Running");
    EXPECT_EQ(daemon.console("orig", "count", "count"), "count 3\n");
    expect_consistent(daemon);
}
