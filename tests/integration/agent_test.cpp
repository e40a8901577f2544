// exec and files through broodd, like a user: broodd reaches brood-agent
// (running on the host) through the instance's vsock.sock; no Linux guest.
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "agent_fixture.hpp"
#include "client/client.hpp"

using namespace brood::testing;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct CliRun {
    int code = -1;
    std::string out;
};

// `input`, when given, is piped into brood's stdin.
CliRun run_brood(const Daemon& d, const std::string& args, const std::string& input = "") {
    std::string cmd = (input.empty() ? "" : "printf '" + input + "' | ") + "BROOD_SOCKET=" + d.socket() + " " +
                      brood_binary() + " " + args;
    CliRun run;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) run.out.append(buf, n);
    int status = ::pclose(pipe);
    run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

std::string files(const std::string& ref, const std::string& path) {
    return brood::client::guest_file_path(ref, path);
}

} // namespace

TEST_F(AgentDaemon, ExecAnswersExitCodeOutputAndStdin) {
    with_agent("ex");
    Reply r = exec("ex", {{"cmd", {"sh", "-c", "cat; echo to-err >&2; exit 5"}}, {"stdin", "in\n"}});
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["exit_code"], 5);
    EXPECT_EQ(r.body["stdout"], "in\n");
    EXPECT_EQ(r.body["stderr"], "to-err\n");
    EXPECT_EQ(r.body["timed_out"], false);
    EXPECT_EQ(r.body["stdout_truncated"], false);

    r = exec("ex", {{"cmd", {"sh", "-c", "echo $GREETING"}}, {"env", {{"GREETING", "hi there"}}}});
    EXPECT_EQ(r.body["stdout"], "hi there\n");
    r = exec("ex", {{"cmd", {"echo", "$GREETING", "|", "x"}}});
    EXPECT_EQ(r.body["stdout"], "$GREETING | x\n") << "no shell unless the command names one";
    // Output is text: bytes that are not UTF-8 become U+FFFD.
    r = exec("ex", {{"cmd", {"printf", "a\\377b"}}});
    EXPECT_EQ(r.body["stdout"], "a\xEF\xBF\xBD" "b");
}

TEST_F(AgentDaemon, ExecTimesOutAndTruncates) {
    with_agent("tt");
    auto started = std::chrono::steady_clock::now();
    Reply r = exec("tt", {{"cmd", {"sleep", "30"}}, {"timeout_ms", 300}});
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["timed_out"], true);
    EXPECT_EQ(r.body["signal"], 9);
    r = exec("tt", {{"cmd", {"head", "-c", "2000000", "/dev/zero"}}});
    ASSERT_EQ(r.status, 200) << r.text;
    EXPECT_EQ(r.body["stdout"].get<std::string>().size(), 1024u * 1024u);
    EXPECT_EQ(r.body["stdout_truncated"], true);
}

TEST_F(AgentDaemon, FilesGoInAndComeOutWhole) {
    with_agent("fl");
    std::string path = daemon.dir() + "/in guest & odd?name";
    std::string data;
    for (int i = 0; i < 300'000; ++i) data.push_back(static_cast<char>(i * 31));
    Reply put = daemon.call_bytes("PUT", files("fl", path) + "&mode=0750", data);
    ASSERT_EQ(put.status, 200) << put.text;
    EXPECT_EQ(put.body["size"], data.size());
    EXPECT_EQ(put.body["path"], path);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0); // the "guest" is this host
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    Reply got = daemon.call_bytes("GET", files("fl", path), "");
    ASSERT_EQ(got.status, 200) << got.text;
    EXPECT_EQ(got.content_type, "application/octet-stream");
    EXPECT_TRUE(got.text == data) << "the downloaded bytes differ";

    EXPECT_EQ(daemon.call_bytes("GET", files("fl", daemon.dir() + "/none"), "").status, 404);
    EXPECT_EQ(daemon.call_bytes("GET", files("fl", "relative"), "").status, 400);
    EXPECT_EQ(daemon.call_bytes("GET", "/instances/fl/files", "").status, 400);
    EXPECT_EQ(daemon.call_bytes("PUT", files("fl", path) + "&mode=99", "x").status, 400);
    EXPECT_EQ(daemon.call_bytes("PUT", files("fl", daemon.dir() + "/no/dir/f"), "x").status, 404);
    std::ofstream(daemon.dir() + "/big") << std::string(4 * 1024 * 1024 + 1, 'b');
    Reply big = daemon.call_bytes("GET", files("fl", daemon.dir() + "/big"), "");
    EXPECT_EQ(big.status, 413) << big.text;
    EXPECT_EQ(big.body.value("code", ""), "too_large");
    // Over the upload limit: refused (413, or the connection closed while
    // the body was still being sent), and the file is unchanged.
    int status = daemon.call_bytes("PUT", files("fl", path), std::string(4 * 1024 * 1024 + 1, 'b')).status;
    EXPECT_TRUE(status == 413 || status == 0) << status;
    EXPECT_TRUE(daemon.call_bytes("GET", files("fl", path), "").text == data);
}

TEST_F(AgentDaemon, ErrorsSayWhatIsWrong) {
    Reply created = daemon.call("POST", "/instances", {{"name", "idle"}, {"kernel", guest_kernel()}});
    ASSERT_EQ(created.status, 201);
    Reply r = exec("idle", {{"cmd", {"true"}}});
    EXPECT_EQ(r.status, 409) << r.text;
    EXPECT_NE(r.body.value("message", "").find("Running"), std::string::npos) << r.text;
    EXPECT_EQ(exec("ghost", {{"cmd", {"true"}}}).status, 404);

    // Running, but nothing answers on its vsock device.
    running("mute");
    auto started = std::chrono::steady_clock::now();
    r = exec("mute", {{"cmd", {"true"}}});
    EXPECT_EQ(r.status, 502) << r.text;
    EXPECT_EQ(r.body.value("code", ""), "agent_unreachable");
    EXPECT_NE(r.body.value("message", "").find("not reachable"), std::string::npos) << r.text;
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
    EXPECT_EQ(daemon.call_bytes("GET", files("mute", "/etc/hostname"), "").status, 502);

    std::string id = with_agent("ok");
    for (const json& body : {json{{"cmd", "true"}}, json{{"cmd", json::array()}}, json{{"cmd", {1}}},
                             json{{"cmd", {"true"}}, {"timeout_ms", 0}}, json{{"cmd", {"true"}}, {"env", {{"A", 1}}}},
                             json{{"cmd", {"true"}}, {"stdin", 5}}, json{{"cmd", {"true"}}, {"shell", true}}}) {
        r = exec("ok", body);
        EXPECT_EQ(r.status, 400) << body.dump() << ": " << r.text;
        EXPECT_EQ(r.body.value("code", ""), "bad_request") << body.dump();
    }
    EXPECT_EQ(daemon.call_bytes("POST", "/instances/ok/exec", "{not json").status, 400);
    r = exec("ok", {{"cmd", {"/no/such/program"}}});
    EXPECT_EQ(r.status, 404) << r.text;

    // An agent that takes the connection and never answers: 504 after the
    // command's timeout and a few seconds of slack.
    bridge->stall(true);
    r = exec("ok", {{"cmd", {"true"}}, {"timeout_ms", 1}});
    EXPECT_EQ(r.status, 504) << r.text;
    EXPECT_EQ(r.body.value("code", ""), "agent_timeout");
    bridge->stall(false);

    // The agent is gone: the connection is refused behind the vsock device.
    agent->kill();
    r = exec("ok", {{"cmd", {"true"}}});
    EXPECT_EQ(r.status, 502) << r.text;
    EXPECT_EQ(r.body.value("code", ""), "agent_unreachable");
    EXPECT_EQ(daemon.call("GET", "/instances/" + id).body.value("state", ""), "Running")
        << "an unreachable agent does not change the instance";
}

TEST_F(AgentDaemon, CliExecAndCp) {
    with_agent("cli");
    CliRun r = run_brood(daemon, "exec cli -- sh -c 'echo out; echo err >&2; exit 3' 2>&1");
    EXPECT_EQ(r.code, 3) << r.out;
    EXPECT_NE(r.out.find("out\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("err\n"), std::string::npos) << r.out;
    r = run_brood(daemon, "exec -e A=b -i cli -- sh -c 'cat; echo $A'", "piped\\n");
    EXPECT_EQ(r.code, 0);
    EXPECT_EQ(r.out, "piped\nb\n");
    r = run_brood(daemon, "exec -t 200 cli -- sleep 10 2>&1");
    EXPECT_EQ(r.code, 124) << r.out;
    EXPECT_NE(r.out.find("timed out"), std::string::npos) << r.out;
    EXPECT_EQ(run_brood(daemon, "exec ghost -- true 2>/dev/null").code, 4);

    std::string local = daemon.dir() + "/local.txt";
    std::ofstream(local) << "cp me\n";
    ::chmod(local.c_str(), 0700);
    std::string remote = daemon.dir() + "/remote.txt";
    EXPECT_EQ(run_brood(daemon, "cp " + local + " cli:" + remote).code, 0);
    struct stat st {};
    ASSERT_EQ(::stat(remote.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u) << "the local file's mode goes with it";
    std::string back = daemon.dir() + "/back.txt";
    EXPECT_EQ(run_brood(daemon, "cp cli:" + remote + " " + back).code, 0);
    std::ifstream in(back);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "cp me");
    EXPECT_EQ(run_brood(daemon, "cp cli:" + remote + " -").out, "cp me\n");
    EXPECT_EQ(run_brood(daemon, "cp " + local + " " + back + " 2>/dev/null").code, 2) << "no NAME:PATH side";
    EXPECT_EQ(run_brood(daemon, "cp cli:" + daemon.dir() + "/none " + back + " 2>/dev/null").code, 4);
}
