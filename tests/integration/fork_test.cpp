// Issue 5: forks and templates, on real VMs.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "fixture.hpp"

using namespace brood::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// FNV-1a over the whole file: enough to notice any write.
uint64_t file_hash(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buf(1 << 20);
    uint64_t h = 1469598103934665603ull;
    while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
        for (std::streamsize i = 0; i < in.gcount(); ++i) h = (h ^ static_cast<uint8_t>(buf[static_cast<size_t>(i)])) * 1099511628211ull;
        if (!in) break;
    }
    return h;
}

bool is_symlink(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

class Forks : public Broodd {
protected:
    // A Standby source that counted to 1 and touched 8 MiB with seed 7, promoted to template "tpl".
    json make_template() {
        running("src");
        EXPECT_EQ(daemon.console("src", "count", "count"), "count 1\n");
        EXPECT_NE(daemon.console("src", "touch 8 7", "touched").find("pages=2048"), std::string::npos);
        EXPECT_EQ(daemon.call("POST", "/instances/src/standby").status, 200);
        auto t = daemon.call("POST", "/templates", {{"instance", "src"}, {"name", "tpl"}, {"tags", {{"app", "demo"}}}});
        EXPECT_EQ(t.status, 201) << t.text;
        return t.body;
    }
    std::string memory_of(const std::string& id) {
        return daemon.guests_dir() + "/" + id + "/snapshots/snapshot-latest/memory";
    }
    int fork_count() { return daemon.call("GET", "/templates/tpl").body.value("fork_count", -1); }
};

} // namespace

TEST_F(Forks, TemplateForksShareTheMemoryFileWhichStaysUntouched) {
    json tpl = make_template();
    EXPECT_EQ(tpl["fork_count"], 0);
    EXPECT_EQ(tpl["tags"]["app"], "demo");
    EXPECT_EQ(tpl["memory_mib"], 128);
    std::string canonical = memory_of(tpl["source_instance_id"]);
    uint64_t before = file_hash(canonical);

    auto forks = daemon.call("POST", "/templates/tpl/fork", {{"name_prefix", "f"}, {"count", 3}});
    ASSERT_EQ(forks.status, 201) << forks.text;
    ASSERT_EQ(forks.body.size(), 3u);
    EXPECT_EQ(fork_count(), 3);
    for (const auto& f : forks.body) {
        EXPECT_EQ(f["state"], "Running");
        EXPECT_EQ(f["template_id"], tpl["id"]);
        std::string memory = memory_of(f["id"]);
        ASSERT_TRUE(is_symlink(memory));
        EXPECT_EQ(fs::canonical(memory), fs::canonical(canonical));
    }
    // Each fork carries on from the template's state, independently.
    for (const char* name : {"f-1", "f-2", "f-3"}) {
        EXPECT_EQ(daemon.console(name, "count", "count"), "count 2\n") << name;
        EXPECT_NE(daemon.console(name, "verify 8 7", "pages=").find("ok pages=2048"), std::string::npos) << name;
    }
    EXPECT_EQ(daemon.console("f-1", "count", "count"), "count 3\n");
    EXPECT_EQ(daemon.console("f-2", "touch 4 9", "touched").find("touched"), 0u);

    // The template's source may not run, nor be deleted; the template may not be deleted.
    EXPECT_EQ(daemon.call("POST", "/instances/src/restore").body.value("code", ""), "in_use");
    EXPECT_EQ(daemon.call("DELETE", "/instances/src").status, 409);
    EXPECT_EQ(daemon.call("DELETE", "/templates/tpl").status, 409);

    // A fork's own standby gives it its own memory file; the template's is untouched.
    ASSERT_EQ(daemon.call("POST", "/instances/f-2/standby").status, 200);
    EXPECT_FALSE(is_symlink(memory_of(forks.body[1]["id"])));
    ASSERT_EQ(daemon.call("POST", "/instances/f-2/restore").status, 200);
    EXPECT_NE(daemon.console("f-2", "verify 4 9", "pages=").find("ok pages=1024"), std::string::npos);

    for (const char* name : {"f-1", "f-2", "f-3"}) EXPECT_EQ(daemon.call("DELETE", std::string("/instances/") + name).status, 204);
    EXPECT_EQ(fork_count(), 0);
    EXPECT_EQ(file_hash(canonical), before) << "a fork wrote into the template's memory file";
    EXPECT_EQ(daemon.call("DELETE", "/templates/tpl").status, 204);
    EXPECT_EQ(daemon.call("GET", "/templates/tpl").status, 404);
    ASSERT_EQ(daemon.call("POST", "/instances/src/restore").status, 200) << "no template: the source may run again";
    EXPECT_EQ(daemon.console("src", "count", "count"), "count 2\n");
}

TEST_F(Forks, FailedForksLeaveNothingAndTheCountSurvivesRestarts) {
    make_template();
    auto before = tree_digest(daemon.data_dir());
    EXPECT_EQ(daemon.call("POST", "/templates/tpl/fork", {{"name", "Bad Name"}}).status, 400);
    EXPECT_EQ(daemon.call("POST", "/templates/tpl/fork", {{"name", "src"}}).status, 409) << "name taken";
    EXPECT_EQ(daemon.call("POST", "/templates/tpl/fork", {{"name", "x"}, {"target_state", "Paused"}}).status, 400);
    EXPECT_EQ(daemon.call("POST", "/templates/tpl/fork", {{"name_prefix", "x"}, {"count", 0}}).status, 400);
    EXPECT_EQ(daemon.call("POST", "/templates/nope/fork", {{"name", "x"}}).status, 404);
    EXPECT_EQ(fork_count(), 0);
    auto after = tree_digest(daemon.data_dir());
    after.erase("templates/" + daemon.call("GET", "/templates/tpl").body.value("id", "") + "/template.json");
    before.erase("templates/" + daemon.call("GET", "/templates/tpl").body.value("id", "") + "/template.json");
    EXPECT_EQ(after, before) << "a rejected fork left something behind";

    ASSERT_EQ(daemon.call("POST", "/templates/tpl/fork", {{"name", "keep"}, {"target_state", "Standby"}}).status, 201);
    EXPECT_EQ(state_of("keep"), "Standby");
    EXPECT_EQ(fork_count(), 1);
    // kill -9 during forks: after the restart the count equals the forks that exist.
    for (int delay_us : {0, 500, 2'000, 6'000}) {
        std::string prefix = "k" + std::to_string(delay_us);
        std::thread request([&] { daemon.call("POST", "/templates/tpl/fork", {{"name_prefix", prefix}, {"count", 3}}); });
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
        daemon.kill9();
        request.join();
        daemon.start();
        expect_consistent(daemon);
    }
    daemon.kill9();
    daemon.start();
    expect_consistent(daemon);
    ASSERT_EQ(daemon.call("POST", "/instances/keep/restore").status, 200);
    EXPECT_EQ(daemon.console("keep", "count", "count"), "count 2\n");
}

TEST_F(Forks, InstanceForkCopiesTheDirectoryAndFromRunningRestoresTheSource) {
    running("orig");
    EXPECT_EQ(daemon.console("orig", "count", "count"), "count 1\n");
    EXPECT_EQ(daemon.call("POST", "/instances/orig/fork", {{"name", "copy"}}).body.value("code", ""), "wrong_state");
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
    expect_consistent(daemon);
}

TEST_F(Forks, TemplateRules) {
    running("live");
    EXPECT_EQ(daemon.call("POST", "/templates", {{"instance", "live"}, {"name", "t"}}).body.value("code", ""),
              "wrong_state");
    EXPECT_EQ(daemon.call("POST", "/templates", {{"instance", "ghost"}, {"name", "t"}}).status, 404);
    EXPECT_EQ(daemon.call("POST", "/templates", {{"instance", "live"}}).status, 400);
    ASSERT_EQ(daemon.call("POST", "/instances/live/standby").status, 200);
    ASSERT_EQ(daemon.call("POST", "/templates", {{"instance", "live"}, {"name", "t"}}).status, 201);
    EXPECT_EQ(daemon.call("POST", "/templates", {{"instance", "live"}, {"name", "t2"}}).body.value("code", ""), "in_use");
    EXPECT_EQ(daemon.call("POST", "/instances/live/start").status, 409);
    auto list = daemon.call("GET", "/templates");
    ASSERT_EQ(list.body.size(), 1u);
    EXPECT_EQ(list.body[0]["name"], "t");
    EXPECT_EQ(daemon.call("DELETE", "/templates/t").status, 204);
    EXPECT_EQ(daemon.call("DELETE", "/instances/live").status, 204);
}
