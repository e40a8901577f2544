// Templates and their forks, on real VMs through the API.
#include <thread>

#include "fork_fixture.hpp"

using namespace brood::testing;
using nlohmann::json;
namespace fs = std::filesystem;

// The seed's plan: promote, fork, the link, the guard, and the way out.
TEST_F(Forks, TemplateForkLinksTheMemoryFileAndGuardsTheSource) {
    json tpl = make_template();
    for (const char* field : {"id", "name", "source_instance_id", "fork_count", "created_at", "last_used_at",
                              "hypervisor", "hypervisor_version", "memory_mib", "vcpus", "tags"})
        EXPECT_TRUE(tpl.contains(field)) << field;
    EXPECT_EQ(tpl["fork_count"], 0);
    EXPECT_EQ(tpl["memory_mib"], 128);
    EXPECT_EQ(tpl["tags"]["app"], "demo");
    std::string source_id = tpl["source_instance_id"];
    std::string canonical = fs::canonical(memory_of(source_id)).string();

    auto forks = fork_template({{"name", "f-1"}});
    ASSERT_EQ(forks.size(), 1u);
    const json& fork = forks[0];
    EXPECT_EQ(fork["state"], "Running");
    EXPECT_EQ(fork["template_id"], tpl["id"]);
    std::string link = memory_of(fork["id"]);
    ASSERT_TRUE(is_symlink(link)) << link;
    EXPECT_EQ(fs::read_symlink(link).string(), canonical) << "the link names the template's canonical file";
    // brood-vmm was given the resolved file and maps it MAP_PRIVATE (backend file).
    auto args = cmdline_of(fork["pid"]);
    EXPECT_EQ(arg_after(args, "--memory"), canonical);
    EXPECT_EQ(arg_after(args, "--backend"), "file");
    EXPECT_EQ(fork["restore_backend"], "file");
    // Its own logs and sockets, nothing else in the source's directory.
    std::string fork_dir = daemon.guests_dir() + "/" + fork["id"].get<std::string>();
    EXPECT_EQ(arg_after(args, "--control-socket"), fork_dir + "/control.sock");
    EXPECT_EQ(arg_after(args, "--serial-log"), fork_dir + "/logs/serial.log");
    EXPECT_EQ(daemon.console("f-1", "count", "count"), "count 2\n");
    json after = daemon.call("GET", "/templates/tpl").body;
    EXPECT_EQ(after["fork_count"], 1);
    EXPECT_GE(after["last_used_at"].get<std::string>(), tpl["last_used_at"].get<std::string>());

    // Live forks: the template and its source cannot be deleted, the source cannot run.
    expect_conflict(daemon.call("DELETE", "/templates/tpl"), "in_use", "1 live fork");
    expect_conflict(daemon.call("DELETE", "/instances/src"), "in_use", "1 live fork");
    expect_conflict(daemon.call("POST", "/instances/src/restore"), "in_use", "template tpl");
    expect_conflict(daemon.call("POST", "/instances/src/start"), "in_use", "template tpl");
    auto two = fork_template({{"name_prefix", "g"}, {"count", 2}});
    ASSERT_EQ(two.size(), 2u);
    expect_conflict(daemon.call("DELETE", "/templates/tpl"), "in_use", "3 live forks");
    expect_conflict(daemon.call("DELETE", "/instances/src"), "in_use", "3 live forks");
    EXPECT_EQ(state_of("src"), "Standby");

    for (const char* name : {"f-1", "g-1", "g-2"})
        EXPECT_EQ(daemon.call("DELETE", std::string("/instances/") + name).status, 204) << name;
    EXPECT_EQ(fork_count(), 0);
    EXPECT_EQ(daemon.call("DELETE", "/templates/tpl").status, 204);
    EXPECT_EQ(daemon.call("GET", "/templates/tpl").status, 404);
    EXPECT_EQ(state_of("src"), "Standby") << "deleting a template keeps its source";
    EXPECT_EQ(daemon.call("DELETE", "/instances/src").status, 204);
    expect_consistent(daemon);
}

TEST_F(Forks, WithoutForksTheSourceMayBeRestoredAndTheTemplateFollowsItsNextStandby) {
    make_template();
    auto restored = daemon.call("POST", "/instances/src/restore");
    ASSERT_EQ(restored.status, 200) << "zero forks: the template guard lets the source run: " << restored.text;
    EXPECT_EQ(daemon.console("src", "count", "count"), "count 2\n");
    // A running source would change under its forks: the template cannot fork.
    expect_conflict(daemon.call("POST", "/templates/tpl/fork", {{"name", "f"}}), "wrong_state", "not Standby");
    EXPECT_EQ(daemon.call("GET", "/instances/f").status, 404);
    // Its next standby replaces the snapshot (tmp + rename): the template now
    // stands for the new state.
    ASSERT_EQ(daemon.call("POST", "/instances/src/standby").status, 200);
    auto forks = fork_template({{"name", "f"}});
    ASSERT_EQ(forks.size(), 1u);
    EXPECT_EQ(daemon.console("f", "count", "count"), "count 3\n");
    expect_conflict(daemon.call("DELETE", "/instances/src"), "in_use", "1 live fork");
    ASSERT_EQ(daemon.call("DELETE", "/instances/f").status, 204);
    // Zero forks: deleting the source deletes its template too.
    ASSERT_EQ(daemon.call("DELETE", "/instances/src").status, 204);
    EXPECT_EQ(daemon.call("GET", "/templates/tpl").status, 404);
    EXPECT_TRUE(daemon.call("GET", "/templates").body.empty());
    expect_consistent(daemon);
}

TEST_F(Forks, EachForkWritesItsOwnMemoryAndTheTemplateFileNeverChanges) {
    json tpl = make_template();
    std::string canonical = fs::canonical(memory_of(tpl["source_instance_id"])).string();
    uint64_t before = file_hash(canonical);
    auto forks = fork_template({{"name_prefix", "p"}, {"count", 3}, {"concurrency", 3}});
    ASSERT_EQ(forks.size(), 3u);
    // Each fork starts from the template's memory, then writes its own pattern.
    for (int i = 1; i <= 3; ++i) {
        std::string name = "p-" + std::to_string(i);
        EXPECT_NE(daemon.console(name, "verify 8 7", "pages=").find("ok pages=2048"), std::string::npos) << name;
        EXPECT_EQ(daemon.console(name, "touch 4 " + std::to_string(10 + i), "touched").find("touched"), 0u) << name;
    }
    for (int i = 1; i <= 3; ++i) {
        std::string name = "p-" + std::to_string(i);
        EXPECT_NE(daemon.console(name, "verify 4 " + std::to_string(10 + i), "pages=").find("ok pages=1024"),
                  std::string::npos)
            << name << ": a fork saw another fork's writes";
    }
    EXPECT_EQ(file_hash(canonical), before) << "a running fork wrote into the template's memory file";
    // A fork's own standby (a diff snapshot) writes its own memory file.
    std::string p2 = forks[1]["id"];
    ASSERT_EQ(daemon.call("POST", "/instances/p-2/standby").status, 200);
    ASSERT_FALSE(is_symlink(memory_of(p2)));
    struct stat st {};
    ASSERT_EQ(::stat(memory_of(p2).c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 1u) << "the fork's memory file is its own";
    EXPECT_EQ(file_hash(canonical), before) << "a fork's standby wrote into the template's memory file";
    ASSERT_EQ(daemon.call("POST", "/instances/p-2/restore").status, 200);
    EXPECT_NE(daemon.console("p-2", "verify 4 12", "pages=").find("ok pages=1024"), std::string::npos);
    EXPECT_EQ(daemon.console("p-2", "count", "count"), "count 2\n");
    EXPECT_EQ(fork_count(), 3) << "a fork with its own memory still counts until it is deleted";
    for (int i = 1; i <= 3; ++i)
        EXPECT_EQ(daemon.call("DELETE", "/instances/p-" + std::to_string(i)).status, 204);
    EXPECT_EQ(fork_count(), 0);
    EXPECT_EQ(file_hash(canonical), before) << "the template's memory changed over its forks' whole life";
    expect_consistent(daemon);
}

TEST_F(Forks, TemplateRules) {
    running("live");
    expect_conflict(daemon.call("POST", "/templates", {{"instance", "live"}, {"name", "t"}}), "wrong_state", "Running");
    EXPECT_EQ(daemon.call("POST", "/templates", {{"instance", "ghost"}, {"name", "t"}}).status, 404);
    EXPECT_EQ(daemon.call("POST", "/templates", {{"instance", "live"}}).status, 400);
    ASSERT_EQ(daemon.call("POST", "/instances/live/standby").status, 200);
    EXPECT_EQ(daemon.call("POST", "/templates", {{"instance", "live"}, {"name", "Bad"}}).status, 400);
    ASSERT_EQ(daemon.call("POST", "/templates", {{"instance", "live"}, {"name", "t"}}).status, 201);
    expect_conflict(daemon.call("POST", "/templates", {{"instance", "live"}, {"name", "t2"}}), "in_use", "already");
    auto by_id = daemon.call("GET", "/templates/" + daemon.call("GET", "/templates/t").body.value("id", ""));
    EXPECT_EQ(by_id.status, 200);
    EXPECT_EQ(by_id.body["name"], "t");
    auto list = daemon.call("GET", "/templates");
    ASSERT_EQ(list.body.size(), 1u);
    EXPECT_EQ(list.body[0]["name"], "t");
    // A template fork cannot come from a running source: no from_running here.
    EXPECT_EQ(daemon.call("POST", "/templates/t/fork", {{"name", "x"}, {"from_running", true}}).status, 400);
    EXPECT_EQ(daemon.call("DELETE", "/templates/t").status, 204);
    EXPECT_EQ(daemon.call("DELETE", "/templates/t").status, 404);
    EXPECT_EQ(daemon.call("DELETE", "/instances/live").status, 204);
}
