// Forks of an agent guest take fresh entropy before they are Running: 64
// bytes from the host, different for every fork; a fork whose agent cannot
// take them fails whole.
#include <filesystem>
#include <fstream>
#include <set>

#include "agent_fixture.hpp"

using namespace brood::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines_of(const std::string& path) {
    std::vector<std::string> out;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

} // namespace

TEST_F(AgentDaemon, RestoredForksTakeFreshEntropyBeforeTheyRun) {
    with_agent("seed");
    ASSERT_EQ(daemon.call("POST", "/instances/seed/standby").status, 200);
    ASSERT_EQ(daemon.call("POST", "/templates", {{"instance", "seed"}, {"name", "seed-t"}}).status, 201);
    bridge->watch(daemon.guests_dir());

    Reply forks = daemon.call("POST", "/templates/seed-t/fork", {{"name_prefix", "sf"}, {"count", 3}});
    ASSERT_EQ(forks.status, 201) << forks.text;
    ASSERT_EQ(forks.body["instances"].size(), 3u) << forks.text;
    for (const auto& f : forks.body["instances"]) {
        EXPECT_EQ(f["state"], "Running");
        EXPECT_EQ(f["agent"], true) << "forks inherit the template's agent";
    }
    auto seeds = lines_of(agent->identity_log());
    ASSERT_EQ(seeds.size(), 3u) << "one identity call per fork";
    for (const auto& s : seeds) EXPECT_EQ(s.size(), 128u) << "64 bytes, in hex: " << s;
    EXPECT_EQ(std::set<std::string>(seeds.begin(), seeds.end()).size(), 3u) << "two forks got the same bytes";

    // A fork to Standby is not running yet: no identity call.
    ASSERT_EQ(daemon.call("POST", "/templates/seed-t/fork", {{"name", "sb"}, {"target_state", "Standby"}}).status, 201);
    EXPECT_EQ(lines_of(agent->identity_log()).size(), 3u);

    // Nobody to take the entropy: the fork fails whole, with the reason.
    bridge.reset();
    agent->kill();
    Reply failed = daemon.call("POST", "/templates/seed-t/fork", {{"name", "nf"}});
    EXPECT_EQ(failed.status, 502) << failed.text;
    ASSERT_EQ(failed.body["errors"].size(), 1u) << failed.text;
    EXPECT_EQ(failed.body["errors"][0].value("code", ""), "agent_unreachable");
    EXPECT_NE(failed.body["errors"][0].value("message", "").find("fresh entropy"), std::string::npos) << failed.text;
    EXPECT_EQ(daemon.call("GET", "/instances/nf").status, 404);
    EXPECT_EQ(daemon.call("GET", "/templates/seed-t").body.value("fork_count", -1), 4) << "the failed fork is not counted";
    expect_consistent(daemon);
}

TEST_F(AgentDaemon, InstancesWithoutAnAgentForkAsBefore) {
    Reply created = daemon.call("POST", "/instances", {{"name", "plain"}, {"kernel", guest_kernel()}});
    ASSERT_EQ(created.status, 201) << created.text;
    EXPECT_EQ(created.body["agent"], false);
    ASSERT_EQ(daemon.call("POST", "/instances/plain/start").status, 200);
    ASSERT_TRUE(daemon.wait_guest_ready("plain"));
    ASSERT_EQ(daemon.call("POST", "/instances/plain/standby").status, 200);
    ASSERT_EQ(daemon.call("POST", "/templates", {{"instance", "plain"}, {"name", "plain-t"}}).status, 201);
    bridge->watch(daemon.guests_dir());
    Reply forks = daemon.call("POST", "/templates/plain-t/fork", {{"name_prefix", "pf"}, {"count", 2}});
    ASSERT_EQ(forks.status, 201) << forks.text;
    for (const auto& f : forks.body["instances"]) EXPECT_EQ(f["state"], "Running");
    EXPECT_FALSE(fs::exists(agent->identity_log()));
}
