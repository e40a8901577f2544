// brood-agent on the host (its unix-socket mode), driven frame by frame as
// broodd drives it over vsock: its operations, its limits, and hostile input.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "agent/protocol.hpp"
#include "support/host_agent.hpp"

using namespace brood;
using namespace brood::agent;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

class Agent : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/brood-agent-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        host = std::make_unique<test::HostAgent>(dir, true);
    }
    void TearDown() override {
        host.reset();
        fs::remove_all(dir);
    }

    UniqueFd connect() const {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, host->socket().c_str());
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        return fd;
    }

    // One request on `fd`; the answer frame (an empty header when none came).
    static Frame ask(int fd, json header, std::string payload = "", int timeout_ms = 20'000) {
        Frame request;
        request.header = std::move(header);
        request.payload = std::move(payload);
        auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
        EXPECT_TRUE(write_frame(fd, request, deadline));
        auto answer = read_frame(fd, deadline);
        EXPECT_TRUE(answer && *answer) << (answer ? "closed" : answer.error().message());
        return answer && *answer ? std::move(**answer) : Frame{};
    }
    Frame ask(json header, std::string payload = "") const {
        UniqueFd fd = connect();
        return ask(fd.get(), std::move(header), std::move(payload));
    }
    static std::string out(const Frame& f) { return f.payload.substr(0, f.header.value("stdout_len", size_t{0})); }
    static std::string err(const Frame& f) { return f.payload.substr(f.header.value("stdout_len", size_t{0})); }

    std::string dir;
    std::unique_ptr<test::HostAgent> host;
};

} // namespace

TEST_F(Agent, ExecReportsExitCodeOutputAndStdin) {
    Frame f = ask({{"op", "exec"}, {"cmd", {"sh", "-c", "cat; echo to-err >&2; exit 7"}}}, "from stdin\n");
    EXPECT_EQ(f.header.value("ok", false), true) << f.header.dump();
    EXPECT_EQ(f.header.value("exit_code", -1), 7);
    EXPECT_EQ(out(f), "from stdin\n");
    EXPECT_EQ(err(f), "to-err\n");
    EXPECT_FALSE(f.header.value("timed_out", true));
    EXPECT_FALSE(f.header.value("stdout_truncated", true));
}

TEST_F(Agent, ExecUsesNoShellAndTakesEnvAndCwd) {
    Frame f = ask({{"op", "exec"}, {"cmd", {"echo", "$HOME;", "x"}}});
    EXPECT_EQ(out(f), "$HOME; x\n");
    f = ask({{"op", "exec"}, {"cmd", {"sh", "-c", "echo $BROOD_X; pwd"}}, {"env", {{"BROOD_X", "y z"}}},
             {"cwd", dir}});
    EXPECT_EQ(out(f), "y z\n" + fs::canonical(dir).string() + "\n");
}

TEST_F(Agent, ExecKillsTheProcessGroupAtItsTimeout) {
    std::string pid_file = dir + "/bg.pid";
    auto started = Clock::now();
    Frame f = ask({{"op", "exec"},
                   {"cmd", {"sh", "-c", "sleep 30 & echo $! > " + pid_file + "; echo begun; wait"}},
                   {"timeout_ms", 500}});
    EXPECT_LT(Clock::now() - started, std::chrono::seconds(10));
    EXPECT_TRUE(f.header.value("timed_out", false)) << f.header.dump();
    EXPECT_EQ(f.header.value("signal", 0), SIGKILL);
    EXPECT_EQ(out(f), "begun\n");
    pid_t bg = 0;
    std::ifstream(pid_file) >> bg;
    ASSERT_GT(bg, 0);
    // Killed with its group (a zombie until init reaps it, at most).
    std::string state;
    for (int i = 0; i < 100; ++i) {
        std::ifstream stat("/proc/" + std::to_string(bg) + "/stat");
        std::string skip;
        state.clear();
        if (stat >> skip >> skip >> state; state.empty() || state == "Z") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(state.empty() || state == "Z") << "the command's background child survived: " << state;
}

TEST_F(Agent, ExecCapsEachStream) {
    Frame f = ask({{"op", "exec"}, {"cmd", {"sh", "-c", "head -c 3000000 /dev/zero; head -c 10 /dev/zero >&2"}}});
    EXPECT_EQ(f.header.value("stdout_len", 0u), kMaxOutput);
    EXPECT_TRUE(f.header.value("stdout_truncated", false));
    EXPECT_EQ(err(f).size(), 10u);
    EXPECT_FALSE(f.header.value("stderr_truncated", true));
    EXPECT_EQ(f.header.value("exit_code", -1), 0);
}

TEST_F(Agent, ExecOfAMissingProgramIsNotFound) {
    Frame f = ask({{"op", "exec"}, {"cmd", {"/no/such/program"}}});
    EXPECT_EQ(f.header.value("ok", true), false);
    EXPECT_EQ(f.header.value("code", ""), "not_found") << f.header.dump();
}

TEST_F(Agent, FilesAreWrittenWholeWithTheirModeAndReadBack) {
    std::string path = dir + "/f.bin";
    std::string data("\0\x01\xfe\xff payload", 12);
    Frame w = ask({{"op", "write_file"}, {"path", path}, {"mode", 0751}}, data);
    EXPECT_EQ(w.header.value("ok", false), true) << w.header.dump();
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0751u);
    Frame r = ask({{"op", "read_file"}, {"path", path}});
    EXPECT_EQ(r.payload, data);
    // No temporary file is left beside it.
    for (const auto& entry : fs::directory_iterator(dir))
        EXPECT_EQ(entry.path().filename().string().find(".tmp-"), std::string::npos) << entry.path();
    EXPECT_EQ(ask({{"op", "read_file"}, {"path", dir + "/none"}}).header.value("code", ""), "not_found");
    EXPECT_EQ(ask({{"op", "read_file"}, {"path", dir}}).header.value("code", ""), "bad_request");
    EXPECT_EQ(ask({{"op", "read_file"}, {"path", "relative"}}).header.value("code", ""), "bad_request");
    EXPECT_EQ(ask({{"op", "write_file"}, {"path", dir + "/no/dir/f"}}, "x").header.value("code", ""), "not_found");
    std::ofstream(dir + "/big") << std::string(kMaxFile + 1, 'x');
    EXPECT_EQ(ask({{"op", "read_file"}, {"path", dir + "/big"}}).header.value("code", ""), "too_large");
}

TEST_F(Agent, IdentityTakesTheHostsBytes) {
    std::string bytes(64, '\0');
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 + 1);
    Frame f = ask({{"op", "identity"}}, bytes);
    EXPECT_EQ(f.header.value("ok", false), true) << f.header.dump();
    std::ifstream log(host->identity_log());
    std::string line;
    std::getline(log, line);
    ASSERT_EQ(line.size(), 128u);
    EXPECT_EQ(line.substr(0, 6), "01080f");
    EXPECT_EQ(ask({{"op", "identity"}}).header.value("code", ""), "bad_request");
    EXPECT_EQ(ask({{"op", "identity"}}, std::string(kMaxEntropy + 1, 'x')).header.value("code", ""), "bad_request");
}

TEST_F(Agent, IdentityCarriesANetworkIdentity) {
    std::string bytes(16, 'e');
    Frame f = ask({{"op", "identity"}, {"mac", "02:aa:bb:cc:dd:ee"}, {"ip", "172.30.0.9/24"}, {"gateway", "172.30.0.1"}},
                  bytes);
    EXPECT_EQ(f.header.value("ok", false), true) << f.header.dump();
    EXPECT_TRUE(f.header.contains("interface"));
    std::ifstream log(host->identity_log());
    std::string entropy, net;
    std::getline(log, entropy);
    std::getline(log, net);
    EXPECT_EQ(net, "net 02:aa:bb:cc:dd:ee 172.30.0.9/24 172.30.0.1");
    // Refused before anything is applied: halves missing, bad syntax.
    for (const nlohmann::json& bad :
         {nlohmann::json{{"op", "identity"}, {"mac", "02:aa:bb:cc:dd:ee"}},
          nlohmann::json{{"op", "identity"}, {"ip", "172.30.0.9/24"}},
          nlohmann::json{{"op", "identity"}, {"mac", "01:aa:bb:cc:dd:ee"}, {"ip", "172.30.0.9/24"}},
          nlohmann::json{{"op", "identity"}, {"mac", "02:aa:bb:cc:dd:ee"}, {"ip", "172.30.0.9"}},
          nlohmann::json{{"op", "identity"}, {"mac", "02:aa:bb:cc:dd:ee"}, {"ip", "172.30.0.9/33"}},
          nlohmann::json{{"op", "identity"}, {"mac", "02:aa:bb:cc:dd:ee"}, {"ip", "1.2.3.4/24"}, {"gateway", "x"}},
          nlohmann::json{{"op", "identity"}, {"mac", 5}, {"ip", "1.2.3.4/24"}}})
        EXPECT_EQ(ask(bad, bytes).header.value("code", ""), "bad_request") << bad.dump();
}

TEST(AgentReseed, IdentityReseedsTheKernelRngWhenAllowed) {
    char tmpl[] = "/tmp/brood-agent-reseed-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    {
        test::HostAgent host(tmpl, false); // the real ioctls on this host's /dev/random
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, host.socket().c_str());
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        Frame request;
        request.header = {{"op", "identity"}};
        request.payload.assign(64, 'r');
        auto deadline = Clock::now() + std::chrono::seconds(5);
        ASSERT_TRUE(write_frame(fd.get(), request, deadline));
        auto answer = read_frame(fd.get(), deadline);
        ASSERT_TRUE(answer && *answer);
        // RNDADDENTROPY needs CAP_SYS_ADMIN: root succeeds, others get a clear refusal.
        if (::geteuid() == 0) {
            EXPECT_EQ((*answer)->header.value("ok", false), true) << (*answer)->header.dump();
        } else {
            EXPECT_NE((*answer)->header.value("error", "").find("RNDADDENTROPY"), std::string::npos);
        }
    }
    fs::remove_all(tmpl);
}

TEST_F(Agent, WrongTypesGetAnAnswerAndTheConnectionGoesOn) {
    UniqueFd fd = connect();
    std::vector<json> bad{
        json::object(),
        {{"op", 1}},
        {{"op", "nope"}},
        {{"op", "exec"}},
        {{"op", "exec"}, {"cmd", json::array()}},
        {{"op", "exec"}, {"cmd", {1}}},
        {{"op", "exec"}, {"cmd", "true"}},
        {{"op", "exec"}, {"cmd", {"true"}}, {"timeout_ms", "1"}},
        {{"op", "exec"}, {"cmd", {"true"}}, {"timeout_ms", 0}},
        {{"op", "exec"}, {"cmd", {"true"}}, {"timeout_ms", 18446744073709551615ull}},
        {{"op", "exec"}, {"cmd", {"true"}}, {"env", {{"A", 1}}}},
        {{"op", "exec"}, {"cmd", {"true"}}, {"env", {{"A=B", "c"}}}},
        {{"op", "exec"}, {"cmd", {"true"}}, {"cwd", 5}},
        {{"op", "write_file"}, {"path", json::array()}},
        {{"op", "write_file"}, {"path", "/tmp/x"}, {"mode", -1}},
        {{"op", "read_file"}, {"path", "/tmp/x"}, {"max_bytes", 1.5}},
    };
    for (const auto& h : bad) {
        Frame f = ask(fd.get(), h);
        EXPECT_EQ(f.header.value("ok", true), false) << h.dump();
        EXPECT_EQ(f.header.value("code", ""), "bad_request") << h.dump() << " -> " << f.header.dump();
    }
    EXPECT_EQ(ask(fd.get(), {{"op", "ping"}}).header.value("ok", false), true);
}

TEST_F(Agent, BrokenFramesAreAnsweredAndClosedWithoutHurtingTheAgent) {
    auto raw = [&](const std::string& bytes) {
        UniqueFd fd = connect();
        ::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
        auto answer = read_frame(fd.get(), Clock::now() + std::chrono::seconds(5));
        EXPECT_TRUE(answer && *answer);
        if (answer && *answer) {
            EXPECT_EQ((**answer).header.value("code", ""), "bad_request");
        }
        // Then the agent closes the connection.
        auto next = read_frame(fd.get(), Clock::now() + std::chrono::seconds(5));
        EXPECT_TRUE(next && !*next);
    };
    raw("GET / HTTP/1.1\r\n\r\n");
    raw(std::string("BRA1\xff\xff\xff\xff\0\0\0\0", 12));
    raw(std::string("BRA1\0\0\0\2\xff\xff\xff\xff", 12));
    { // a frame cut short, then a hang-up
        UniqueFd fd = connect();
        ::send(fd.get(), "BRA1\0\0", 6, MSG_NOSIGNAL);
    }
    EXPECT_EQ(::kill(host->pid(), 0), 0) << "the agent died";
    EXPECT_EQ(ask({{"op", "ping"}}).header.value("ok", false), true) << "the agent is gone";
}

TEST_F(Agent, ServesConnectionsAtTheSameTime) {
    constexpr int kClients = 8;
    std::vector<std::thread> threads;
    std::vector<std::string> outputs(kClients);
    auto started = Clock::now();
    for (int i = 0; i < kClients; ++i)
        threads.emplace_back([&, i] {
            Frame f = ask({{"op", "exec"}, {"cmd", {"sh", "-c", "sleep 1; echo " + std::to_string(i)}}});
            outputs[i] = out(f);
        });
    for (auto& t : threads) t.join();
    EXPECT_LT(Clock::now() - started, std::chrono::seconds(kClients / 2)) << "connections were served one by one";
    for (int i = 0; i < kClients; ++i) EXPECT_EQ(outputs[i], std::to_string(i) + "\n");
}
