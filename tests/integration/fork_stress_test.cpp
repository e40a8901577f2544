// The fork count under concurrent forks and deletes, failed forks, and
// kill -9 of the daemon in the middle of a fan-out.
#include <atomic>
#include <thread>

#include "fork_fixture.hpp"

using namespace brood::testing;
using nlohmann::json;

TEST_F(Forks, TwentyConcurrentForksWhileTenOthersAreDeletedKeepTheCountExact) {
    make_template();
    ASSERT_EQ(fork_template({{"name_prefix", "old"}, {"count", 10}, {"concurrency", 8}}).size(), 10u);
    ASSERT_EQ(fork_count(), 10);
    std::vector<std::thread> threads;
    std::atomic<int> made{0}, deleted{0};
    for (const char* prefix : {"new-a", "new-b"})
        threads.emplace_back([&, prefix] {
            auto r = daemon.call("POST", "/templates/tpl/fork",
                                 {{"name_prefix", prefix}, {"count", 10}, {"concurrency", 10}});
            if (r.status == 201) made += static_cast<int>(r.body["instances"].size());
            EXPECT_TRUE(r.body.value("errors", json::array()).empty()) << r.text;
        });
    for (int i = 1; i <= 10; ++i)
        threads.emplace_back([&, i] {
            if (daemon.call("DELETE", "/instances/old-" + std::to_string(i)).status == 204) ++deleted;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(made.load(), 20);
    EXPECT_EQ(deleted.load(), 10);
    EXPECT_EQ(fork_count(), 20);
    expect_consistent(daemon);
    for (const auto& inst : daemon.call("GET", "/instances").body) {
        if (inst["name"] == "src") continue;
        EXPECT_EQ(inst["state"], "Running") << inst.dump();
    }
    // Every fork is a working VM of its own.
    EXPECT_EQ(daemon.console("new-a-10", "count", "count"), "count 2\n");
    EXPECT_EQ(daemon.console("new-b-1", "count", "count"), "count 2\n");
}

TEST_F(Forks, RejectedAndPartlyFailedFanOutsLeaveOnlyWholeForks) {
    json tpl = make_template();
    std::string record = "templates/" + tpl["id"].get<std::string>() + "/template.json";
    auto before = tree_digest(daemon.data_dir());
    EXPECT_EQ(daemon.call("POST", "/templates/tpl/fork", {{"name", "Bad Name"}}).status, 400);
    EXPECT_EQ(daemon.call("POST", "/templates/tpl/fork", {{"name", "x"}, {"target_state", "Paused"}}).status, 400);
    EXPECT_EQ(daemon.call("POST", "/templates/tpl/fork", {{"name_prefix", "x"}, {"count", 0}}).status, 400);
    EXPECT_EQ(daemon.call("POST", "/templates/tpl/fork", {{"name_prefix", "x"}, {"count", 1001}}).status, 400);
    EXPECT_EQ(daemon.call("POST", "/templates/tpl/fork", {{"name", "x"}, {"concurrency", 0}}).status, 400);
    EXPECT_EQ(daemon.call("POST", "/templates/nope/fork", {{"name", "x"}}).status, 404);
    // A single fork whose name is taken: 409, with the two lists.
    auto taken = daemon.call("POST", "/templates/tpl/fork", {{"name", "src"}});
    EXPECT_EQ(taken.status, 409) << taken.text;
    EXPECT_EQ(taken.body["code"], "name_taken");
    EXPECT_TRUE(taken.body["instances"].empty());
    ASSERT_EQ(taken.body["errors"].size(), 1u);
    EXPECT_EQ(taken.body["errors"][0]["name"], "src");
    EXPECT_EQ(taken.body["errors"][0]["status"], 409);
    EXPECT_EQ(fork_count(), 0);
    auto after = tree_digest(daemon.data_dir());
    after.erase(record);
    before.erase(record);
    EXPECT_EQ(after, before) << "a rejected fork left something behind";

    // Part of a fan-out fails (one name is taken): the rest is made, each whole.
    ASSERT_EQ(fork_template({{"name", "w-2"}, {"target_state", "Standby"}}).size(), 1u);
    auto partial = daemon.call("POST", "/templates/tpl/fork", {{"name_prefix", "w"}, {"count", 3}});
    ASSERT_EQ(partial.status, 201) << partial.text;
    ASSERT_EQ(partial.body["instances"].size(), 2u);
    ASSERT_EQ(partial.body["errors"].size(), 1u);
    EXPECT_EQ(partial.body["errors"][0]["name"], "w-2");
    EXPECT_EQ(partial.body["errors"][0]["code"], "name_taken");
    EXPECT_EQ(state_of("w-2"), "Standby") << "the existing instance is untouched";
    EXPECT_EQ(fork_count(), 3);
    expect_consistent(daemon);
}

TEST_F(Forks, KillDuringFanOutThenTheCountIsExactAfterRestart) {
    make_template();
    ASSERT_EQ(fork_template({{"name", "keep"}, {"target_state", "standby"}}).size(), 1u);
    EXPECT_EQ(state_of("keep"), "Standby");
    // The later delays land in the middle of the fan-out (some forks made).
    for (int delay_us : {0, 1'000, 4'000, 7'000, 12'000, 25'000}) {
        SCOPED_TRACE("kill after " + std::to_string(delay_us) + " us");
        std::string prefix = "k" + std::to_string(delay_us);
        std::thread request([&] {
            daemon.call("POST", "/templates/tpl/fork", {{"name_prefix", prefix}, {"count", 6}, {"concurrency", 3}});
        });
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
        daemon.kill9();
        request.join();
        daemon.start();
        expect_consistent(daemon); // fork_count equals the forks that exist, no half-made fork
    }
    int forks = fork_count();
    EXPECT_GE(forks, 1);
    for (const auto& inst : daemon.call("GET", "/instances").body)
        if (inst["name"] != "src" && inst["name"] != "keep") {
            EXPECT_EQ(daemon.call("DELETE", "/instances/" + inst["id"].get<std::string>()).status, 204);
        }
    EXPECT_EQ(fork_count(), 1);
    ASSERT_EQ(daemon.call("POST", "/instances/keep/restore").status, 200);
    EXPECT_EQ(daemon.console("keep", "count", "count"), "count 2\n");
    daemon.kill9();
    daemon.start();
    EXPECT_EQ(fork_count(), 1);
    expect_consistent(daemon);
}
