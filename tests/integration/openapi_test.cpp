// docs/openapi.yaml and the daemon agree: every route the daemon serves is
// in the spec, and every operation in the spec answers, on a real daemon,
// with a documented status and a body of the documented shape.
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "api/routes.hpp"
#include "client/client.hpp"
#include "fixture.hpp"
#include "support/host_agent.hpp"
#include "yaml_lite.hpp"

using namespace brood::testing;
using nlohmann::json;

namespace {

json load_spec() {
    std::ifstream in(BROOD_TEST_OPENAPI);
    std::stringstream text;
    text << in.rdbuf();
    return parse_yaml_lite(text.str());
}

const std::set<std::string> kMethods{"get", "post", "put", "delete", "patch"};

std::set<std::string> spec_operations(const json& spec) {
    std::set<std::string> out;
    for (const auto& [path, item] : spec["paths"].items())
        for (const auto& [method, op] : item.items())
            if (kMethods.count(method)) {
                std::string upper = method;
                for (char& c : upper) c = static_cast<char>(std::toupper(c));
                out.insert(upper + " " + path);
            }
    return out;
}

// Validates one answer against the spec's responses for the operation.
void check_answer(const json& spec, const std::string& operation, const Reply& reply) {
    size_t space = operation.find(' ');
    std::string method = operation.substr(0, space);
    for (char& c : method) c = static_cast<char>(std::tolower(c));
    const json& op = spec["paths"][operation.substr(space + 1)][method];
    std::string status = std::to_string(reply.status);
    ASSERT_TRUE(op["responses"].contains(status))
        << operation << " answered " << status << ", which the spec does not document: " << reply.text;
    json response = op["responses"][status];
    if (response.contains("$ref"))
        response = spec.at(json::json_pointer(response["$ref"].get<std::string>().substr(1)));
    if (!response.contains("content")) {
        EXPECT_TRUE(reply.text.empty()) << operation << " should have no body";
        return;
    }
    auto [media, content] = *response["content"].items().begin();
    EXPECT_NE(reply.content_type.find(media), std::string::npos) << operation << ": content type " << reply.content_type;
    if (media == "application/json") {
        EXPECT_EQ(check_schema(spec, content["schema"], reply.body), "") << operation << ": " << reply.text;
    }
}

} // namespace

TEST(OpenApi, SpecParsesAndListsEveryRouteTheDaemonServes) {
    json spec = load_spec();
    ASSERT_EQ(spec.value("openapi", ""), "3.0.3");
    auto documented = spec_operations(spec);
    char tmpl[] = "/tmp/brood-openapi-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    brood::manager::ManagerConfig config;
    config.data_dir = tmpl;
    config.vmm_binary = vmm_binary();
    auto manager = brood::manager::Manager::open(config);
    ASSERT_TRUE(manager) << manager.error().message();
    std::set<std::string> served;
    for (const auto& route : brood::api::make_router(**manager).routes()) served.insert(route.method + " " + route.pattern);
    manager->reset();
    std::filesystem::remove_all(tmpl);
    EXPECT_EQ(served, documented);
}

TEST_F(Broodd, OpenApiOperationsAnswerWithDocumentedShapes) {
    json spec = load_spec();
    std::string kernel = guest_kernel();
    // The guest agent is brood-agent on this host, behind a stand-in vsock device.
    brood::test::HostAgent agent(daemon.dir(), false);
    brood::test::VsockBridge bridge(agent.socket());
    std::string guest_file = daemon.dir() + "/oa-file";
    auto files = [&](const std::string& ref) { return brood::client::guest_file_path(ref, guest_file); };
    // One call per operation, in an order that walks an instance through its life.
    std::vector<std::pair<std::string, std::function<Reply()>>> steps{
        {"GET /version", [&] { return daemon.call("GET", "/version"); }},
        {"POST /instances", [&] { return daemon.call("POST", "/instances", {{"name", "oa"}, {"kernel", kernel}}); }},
        {"GET /instances", [&] { return daemon.call("GET", "/instances"); }},
        {"GET /instances/{id}", [&] { return daemon.call("GET", "/instances/oa"); }},
        {"POST /instances/{id}/start", [&] { return daemon.call("POST", "/instances/oa/start"); }},
        {"GET /instances/{id}/logs", [&] {
             daemon.wait_guest_ready("oa");
             return daemon.call("GET", "/instances/oa/logs?tail=5");
         }},
        {"POST /instances/{id}/console",
         [&] { return daemon.call("POST", "/instances/oa/console", {{"input", "ping"}, {"until", "pong"}}); }},
        {"POST /instances/{id}/exec", [&] {
             bridge.serve(daemon.guests_dir() + "/" + daemon.call("GET", "/instances/oa").body.value("id", "") +
                          "/vsock.sock");
             return daemon.call("POST", "/instances/oa/exec", {{"cmd", {"echo", "hi"}}});
         }},
        {"PUT /instances/{id}/files", [&] { return daemon.call_bytes("PUT", files("oa"), "data"); }},
        {"GET /instances/{id}/files", [&] { return daemon.call_bytes("GET", files("oa"), ""); }},
        {"POST /instances/{id}/pause", [&] { return daemon.call("POST", "/instances/oa/pause"); }},
        {"POST /instances/{id}/resume", [&] { return daemon.call("POST", "/instances/oa/resume"); }},
        {"POST /instances/{id}/standby", [&] { return daemon.call("POST", "/instances/oa/standby"); }},
        {"POST /instances/{id}/restore", [&] { return daemon.call("POST", "/instances/oa/restore"); }},
        {"POST /instances/{id}/stop", [&] {
             auto r = daemon.call("POST", "/instances/oa/stop", {{"timeout_ms", 100}});
             daemon.call("POST", "/instances/oa/start");
             return r;
         }},
        {"POST /instances/{id}/standby", [&] { return daemon.call("POST", "/instances/oa/standby"); }},
        {"POST /instances/{id}/fork",
         [&] { return daemon.call("POST", "/instances/oa/fork", {{"name", "oa-copy"}, {"target_state", "Standby"}}); }},
        {"POST /templates", [&] { return daemon.call("POST", "/templates", {{"instance", "oa"}, {"name", "oa-t"}}); }},
        {"GET /templates", [&] { return daemon.call("GET", "/templates"); }},
        {"GET /templates/{id}", [&] { return daemon.call("GET", "/templates/oa-t"); }},
        {"POST /templates/{id}/fork",
         [&] { return daemon.call("POST", "/templates/oa-t/fork", {{"name_prefix", "oa-f"}, {"count", 2}}); }},
        {"GET /metrics", [&] { return daemon.call("GET", "/metrics"); }},
        {"DELETE /instances/{id}", [&] {
             // Documented failures of the fork routes, while the forks exist.
             check_answer(spec, "POST /templates/{id}/fork",
                          daemon.call("POST", "/templates/oa-t/fork", {{"name", "oa-f-1"}}));
             check_answer(spec, "POST /instances/{id}/fork",
                          daemon.call("POST", "/instances/oa/fork", {{"name", "oa-f-1"}}));
             check_answer(spec, "DELETE /templates/{id}", daemon.call("DELETE", "/templates/oa-t"));
             for (const char* f : {"oa-f-1", "oa-f-2"}) daemon.call("DELETE", std::string("/instances/") + f);
             return daemon.call("DELETE", "/instances/oa-copy");
         }},
        {"DELETE /templates/{id}", [&] { return daemon.call("DELETE", "/templates/oa-t"); }},
    };
    std::set<std::string> exercised;
    for (auto& [operation, call] : steps) {
        Reply reply = call();
        EXPECT_GE(reply.status, 200) << operation;
        EXPECT_LT(reply.status, 300) << operation << ": " << reply.text;
        check_answer(spec, operation, reply);
        exercised.insert(operation);
    }
    EXPECT_EQ(exercised, spec_operations(spec)) << "an operation of the spec is not exercised here";
    check_answer(spec, "DELETE /templates/{id}", daemon.call("DELETE", "/templates/ghost"));
    check_answer(spec, "POST /templates/{id}/fork", daemon.call("POST", "/templates/ghost/fork", {{"name", "x"}}));

    // Documented errors have the documented shape too.
    check_answer(spec, "GET /instances/{id}", daemon.call("GET", "/instances/ghost"));
    check_answer(spec, "POST /instances/{id}/standby", daemon.call("POST", "/instances/ghost/standby"));
    check_answer(spec, "POST /instances", daemon.call("POST", "/instances", {{"name", "BAD"}, {"kernel", kernel}}));
    daemon.create("dup");
    check_answer(spec, "POST /instances", daemon.call("POST", "/instances", {{"name", "dup"}, {"kernel", kernel}}));
    check_answer(spec, "POST /instances/{id}/standby", daemon.call("POST", "/instances/dup/standby"));
    check_answer(spec, "POST /instances/{id}/console",
                 daemon.call("POST", "/instances/dup/console", {{"input", "ping"}}));
    check_answer(spec, "POST /instances/{id}/exec", daemon.call("POST", "/instances/dup/exec", {{"cmd", {"true"}}}));
    check_answer(spec, "POST /instances/{id}/exec", daemon.call("POST", "/instances/dup/exec", {{"cmd", "true"}}));
    check_answer(spec, "GET /instances/{id}/files", daemon.call_bytes("GET", files("dup"), ""));
    ASSERT_EQ(daemon.call("POST", "/instances/dup/start").status, 200);
    daemon.wait_guest_ready("dup");
    // Running, with no agent behind its vsock device.
    check_answer(spec, "POST /instances/{id}/exec", daemon.call("POST", "/instances/dup/exec", {{"cmd", {"true"}}}));
    check_answer(spec, "PUT /instances/{id}/files", daemon.call_bytes("PUT", files("dup"), "x"));
    check_answer(spec, "POST /instances/{id}/console",
                 daemon.call("POST", "/instances/dup/console", {{"input", "ping"}, {"until", "x"}, {"timeout_ms", 100}}));
}

// 502 vmm_died, from a VMM killed at a named step, has the documented shape
// for every operation that can answer it.
TEST(OpenApi, VmmDeathAnswersAreDocumented) {
    if (!have_kvm()) GTEST_SKIP() << "needs /dev/kvm (read-write) to run brood-vmm";
    json spec = load_spec();
    std::string victim;
    brood::manager::VmmStep at = brood::manager::VmmStep::spawned;
    Daemon daemon;
    daemon.start_in_process([&](brood::manager::VmmStep step, const std::string& name, pid_t pid) {
        if (step != at || name != victim) return;
        victim.clear();
        kill9_and_wait(pid);
    });
    auto kill_at = [&](brood::manager::VmmStep step, const std::string& name) {
        at = step;
        victim = name;
    };
    auto check_died = [&](const std::string& operation, const Reply& reply) {
        EXPECT_EQ(reply.status, 502) << operation << ": " << reply.text;
        check_answer(spec, operation, reply);
    };
    daemon.create("oa");
    kill_at(brood::manager::VmmStep::spawned, "oa");
    check_died("POST /instances/{id}/start", daemon.call("POST", "/instances/oa/start"));
    ASSERT_EQ(daemon.call("POST", "/instances/oa/start").status, 200);
    kill_at(brood::manager::VmmStep::standby_snapshot, "oa");
    check_died("POST /instances/{id}/standby", daemon.call("POST", "/instances/oa/standby"));
    ASSERT_EQ(daemon.call("POST", "/instances/oa/start").status, 200);
    ASSERT_EQ(daemon.call("POST", "/instances/oa/standby").status, 200);
    kill_at(brood::manager::VmmStep::ready, "oa");
    check_died("POST /instances/{id}/restore", daemon.call("POST", "/instances/oa/restore"));
    ASSERT_EQ(daemon.call("POST", "/instances/oa/start").status, 200);
    kill_at(brood::manager::VmmStep::spawned, "oa-copy");
    check_died("POST /instances/{id}/fork",
               daemon.call("POST", "/instances/oa/fork", {{"name", "oa-copy"}, {"from_running", true}}));
    ASSERT_EQ(daemon.call("POST", "/instances/oa/standby").status, 200);
    ASSERT_EQ(daemon.call("POST", "/templates", {{"instance", "oa"}, {"name", "oa-t"}}).status, 201);
    kill_at(brood::manager::VmmStep::ready, "oa-f");
    check_died("POST /templates/{id}/fork", daemon.call("POST", "/templates/oa-t/fork", {{"name", "oa-f"}}));
    expect_consistent(daemon);
}

TEST(YamlLite, ParsesTheSubset) {
    json j = parse_yaml_lite("a: 1\nb:\n  - x\n  - name: y\n    in: path\n  - [p, 'q r']\nc: 'd: e' # comment\n"
                             "'200':\n  description: ok\nempty: {}\n");
    EXPECT_EQ(j["a"], 1);
    EXPECT_EQ(j["b"][0], "x");
    EXPECT_EQ(j["b"][1]["name"], "y");
    EXPECT_EQ(j["b"][1]["in"], "path");
    EXPECT_EQ(j["b"][2][1], "q r");
    EXPECT_EQ(j["c"], "d: e");
    EXPECT_EQ(j["200"]["description"], "ok");
    EXPECT_TRUE(j["empty"].is_object());
}

TEST(YamlLite, SchemaCheckCatchesWrongShapes) {
    json spec = parse_yaml_lite("components:\n  schemas:\n    E:\n      type: object\n      required: [code]\n"
                                "      properties:\n        code:\n          type: string\n");
    json ref{{"$ref", "#/components/schemas/E"}};
    EXPECT_EQ(check_schema(spec, ref, {{"code", "x"}}), "");
    EXPECT_NE(check_schema(spec, ref, {{"code", 1}}), "");
    EXPECT_NE(check_schema(spec, ref, json::object()), "");
    EXPECT_NE(check_schema(spec, ref, json::array()), "");
}
