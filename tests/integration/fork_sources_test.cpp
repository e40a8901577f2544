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

// A Stopped instance has no snapshot: stop drops the one an earlier standby
// left, so a fork of it boots fresh, whatever its target state.
TEST_F(Forks, StoppedSourceWithAnEarlierSnapshotGivesAFreshFork) {
    running("a");
    EXPECT_EQ(daemon.console("a", "count", "count"), "count 1\n");
    EXPECT_EQ(daemon.console("a", "count", "count"), "count 2\n");
    ASSERT_EQ(daemon.call("POST", "/instances/a/standby").status, 200);
    ASSERT_EQ(daemon.call("POST", "/instances/a/restore").status, 200);
    EXPECT_EQ(daemon.console("a", "count", "count"), "count 3\n");
    auto stopped = daemon.call("POST", "/instances/a/stop", {{"timeout_ms", 100}});
    ASSERT_EQ(stopped.status, 200) << stopped.text;
    EXPECT_FALSE(stopped.body.value("snapshot_present", true)) << stopped.text;
    EXPECT_FALSE(fs::exists(daemon.guests_dir() + "/" + id_of("a") + "/snapshots")) << "stop drops the snapshot";
    expect_consistent(daemon);

    auto b = daemon.call("POST", "/instances/a/fork", {{"name", "b"}, {"target_state", "Running"}});
    ASSERT_EQ(b.status, 201) << b.text;
    EXPECT_EQ(b.body["state"], "Running");
    EXPECT_FALSE(b.body.value("snapshot_present", true)) << b.text;
    EXPECT_EQ(b.body.value("restore_backend", "?"), "") << "booted, not restored: " << b.text;
    ASSERT_TRUE(daemon.wait_guest_ready("b"));
    EXPECT_EQ(daemon.console("b", "count", "count"), "count 1\n") << "a fresh boot, not the stale state";
    auto cold = daemon.call("POST", "/instances/a/fork", {{"name", "c"}});
    ASSERT_EQ(cold.status, 201) << cold.text;
    EXPECT_EQ(cold.body["state"], "Stopped");
    ASSERT_EQ(daemon.call("POST", "/instances/c/start").status, 200);
    ASSERT_TRUE(daemon.wait_guest_ready("c"));
    EXPECT_EQ(daemon.console("c", "count", "count"), "count 1\n");
    // The source itself boots fresh too.
    ASSERT_EQ(daemon.call("POST", "/instances/a/restore").body.value("code", ""), "wrong_state");
    size_t from = daemon.log_size("a");
    ASSERT_EQ(daemon.call("POST", "/instances/a/start").status, 200);
    ASSERT_TRUE(daemon.wait_guest_ready("a", from));
    EXPECT_EQ(daemon.console("a", "count", "count"), "count 1\n");
    expect_consistent(daemon);
}

// A template fork that is stopped drops its memory link and is no longer a
// live fork of its template: the count, the guard and its forks agree.
TEST_F(Forks, StoppedTemplateForkReleasesItsTemplateAndForksFresh) {
    make_template();
    EXPECT_EQ(fork_count(), 0);
    auto f = fork_template({{"name", "f"}});
    ASSERT_EQ(f.size(), 1u);
    std::string f_id = f[0]["id"];
    EXPECT_EQ(fork_count(), 1);
    EXPECT_TRUE(is_symlink(memory_of(f_id)));
    EXPECT_EQ(daemon.console("f", "count", "count"), "count 2\n");
    expect_conflict(daemon.call("DELETE", "/templates/tpl"), "in_use", "1 live fork");
    expect_consistent(daemon);

    auto stopped = daemon.call("POST", "/instances/f/stop", {{"timeout_ms", 100}});
    ASSERT_EQ(stopped.status, 200) << stopped.text;
    EXPECT_TRUE(stopped.body["template_id"].is_null()) << stopped.text;
    EXPECT_FALSE(stopped.body.value("snapshot_present", true));
    EXPECT_FALSE(fs::exists(fs::symlink_status(memory_of(f_id)))) << "the memory link is gone";
    EXPECT_EQ(fork_count(), 0) << "a Stopped fork no longer maps the template's memory";
    expect_consistent(daemon);

    auto g = daemon.call("POST", "/instances/f/fork", {{"name", "g"}, {"target_state", "Running"}});
    ASSERT_EQ(g.status, 201) << g.text;
    EXPECT_EQ(g.body["state"], "Running");
    EXPECT_TRUE(g.body["template_id"].is_null()) << g.text;
    EXPECT_FALSE(fs::exists(fs::symlink_status(memory_of(g.body["id"])))) << "no memory link";
    EXPECT_EQ(fork_count(), 0);
    ASSERT_TRUE(daemon.wait_guest_ready("g"));
    EXPECT_EQ(daemon.console("g", "count", "count"), "count 1\n") << "a fresh boot";
    // A template fork made straight to Stopped has no snapshot either.
    auto cold = fork_template({{"name", "cold"}, {"target_state", "Stopped"}});
    ASSERT_EQ(cold.size(), 1u);
    EXPECT_TRUE(cold[0]["template_id"].is_null()) << cold[0].dump();
    EXPECT_EQ(fork_count(), 0);
    expect_consistent(daemon);

    // The count survives a daemon restart (it is recounted from the records).
    daemon.kill9();
    daemon.start();
    EXPECT_EQ(fork_count(), 0);
    EXPECT_EQ(state_of("f"), "Stopped");
    EXPECT_TRUE(daemon.call("GET", "/instances/f").body["template_id"].is_null());
    expect_consistent(daemon);
    // No live forks: the template can go.
    EXPECT_EQ(daemon.call("DELETE", "/templates/tpl").status, 204);
}
