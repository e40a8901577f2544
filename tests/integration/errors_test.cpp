// Every bad input gets its documented status and leaves the disk unchanged.
#include "common/http/client.hpp"
#include "fixture.hpp"

using namespace brood::testing;
using nlohmann::json;

namespace {

struct Case {
    const char* what;
    std::string method, path;
    json body;
    int status;
    const char* code;
};

} // namespace

TEST_F(Broodd, BadInputsGetDocumentedCodesAndChangeNothing) {
    running("taken");
    daemon.create("idle");
    ASSERT_EQ(daemon.call("POST", "/instances/idle/start").status, 200);
    ASSERT_EQ(daemon.call("POST", "/instances/idle/stop", {{"timeout_ms", 100}}).status, 200);
    auto kernel = guest_kernel();
    std::vector<Case> cases{
        {"unknown id", "GET", "/instances/nope", nullptr, 404, "not_found"},
        {"unknown id start", "POST", "/instances/0123456789abcdef/start", nullptr, 404, "not_found"},
        {"unknown id delete", "DELETE", "/instances/nope", nullptr, 404, "not_found"},
        {"duplicate name", "POST", "/instances", {{"name", "taken"}, {"kernel", kernel}, {"memory_mib", 128}}, 409,
         "name_taken"},
        {"invalid name", "POST", "/instances", {{"name", "Bad_Name!"}, {"kernel", kernel}}, 400, "bad_request"},
        {"empty name", "POST", "/instances", {{"name", ""}, {"kernel", kernel}}, 400, "bad_request"},
        {"long name", "POST", "/instances", {{"name", std::string(64, 'a')}, {"kernel", kernel}}, 400, "bad_request"},
        {"memory 0", "POST", "/instances", {{"name", "m0"}, {"kernel", kernel}, {"memory_mib", 0}}, 400,
         "bad_request"},
        {"memory as string", "POST", "/instances", {{"name", "ms"}, {"kernel", kernel}, {"memory_mib", "128"}}, 400,
         "bad_request"},
        {"vcpus 0", "POST", "/instances", {{"name", "v0"}, {"kernel", kernel}, {"vcpus", 0}}, 400, "bad_request"},
        {"missing kernel field", "POST", "/instances", {{"name", "nok"}}, 400, "bad_request"},
        {"kernel file missing", "POST", "/instances", {{"name", "nok"}, {"kernel", "/no/such/kernel"}}, 400,
         "bad_request"},
        {"relative kernel", "POST", "/instances", {{"name", "nok"}, {"kernel", "guest.elf"}}, 400, "bad_request"},
        {"unknown field", "POST", "/instances", {{"name", "uf"}, {"kernel", kernel}, {"color", "red"}}, 400,
         "bad_request"},
        {"body not an object", "POST", "/instances", json::array({1, 2}), 400, "bad_request"},
        {"standby of a stopped VM", "POST", "/instances/idle/standby", nullptr, 409, "wrong_state"},
        {"restore without standby", "POST", "/instances/idle/restore", nullptr, 409, "wrong_state"},
        {"stop of a stopped VM", "POST", "/instances/idle/stop", nullptr, 409, "wrong_state"},
        {"start of a running VM", "POST", "/instances/taken/start", nullptr, 409, "wrong_state"},
        {"console of a stopped VM", "POST", "/instances/idle/console", {{"input", "ping"}}, 409, "wrong_state"},
        {"console without input", "POST", "/instances/taken/console", json::object(), 400, "bad_request"},
        {"console multi-line input", "POST", "/instances/taken/console", {{"input", "a\nb"}}, 400, "bad_request"},
        {"stop timeout negative", "POST", "/instances/taken/stop", {{"timeout_ms", -1}}, 400, "bad_request"},
        {"unknown route", "GET", "/nothing", nullptr, 404, "not_found"},
        {"wrong method", "PUT", "/instances", nullptr, 405, "method_not_allowed"},
    };
    auto before = tree_digest(daemon.data_dir());
    auto processes = vmm_processes(daemon.guests_dir());
    for (const Case& c : cases) {
        auto r = daemon.call(c.method, c.path, c.body);
        EXPECT_EQ(r.status, c.status) << c.what << ": " << r.text;
        EXPECT_EQ(r.body.value("code", ""), c.code) << c.what << ": " << r.text;
        EXPECT_FALSE(r.body.value("message", "").empty()) << c.what;
    }
    // Malformed JSON is a 400 as well.
    auto client = brood::http::Client::connect_unix(daemon.socket());
    ASSERT_TRUE(client);
    auto malformed = client->request("POST", "/instances", "{\"name\": ");
    ASSERT_TRUE(malformed);
    EXPECT_EQ(malformed->status, 400);
    EXPECT_EQ(tree_digest(daemon.data_dir()), before) << "a rejected request changed the data directory";
    EXPECT_EQ(vmm_processes(daemon.guests_dir()), processes);
    EXPECT_EQ(daemon.call("GET", "/instances").body.size(), 2u);
}
