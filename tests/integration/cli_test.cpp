// The brood CLI against a real daemon: output, --json and exit codes.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "common/http/server.hpp"
#include "fixture.hpp"

using namespace brood::testing;

namespace {

struct CliRun {
    int code = -1;
    std::string out;
};

CliRun run_brood(const Daemon& d, const std::string& args, const std::string& socket = "") {
    std::string cmd = "BROOD_SOCKET=" + (socket.empty() ? d.socket() : socket) + " " + brood_binary() + " " + args +
                      " 2>&1";
    CliRun run;
    FILE* pipe = ::popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) run.out.append(buf, n);
    int status = ::pclose(pipe);
    run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

} // namespace

TEST(BroodCli, HelpOnEveryVerb) {
    Daemon d;
    CliRun top = run_brood(d, "--help");
    EXPECT_EQ(top.code, 0);
    for (const char* verb : {"create", "run", "ps", "inspect", "start", "stop", "standby", "restore", "pause", "resume",
                             "rm", "logs", "console", "fork", "template", "exec", "cp"}) {
        CliRun r = run_brood(d, std::string(verb) + " --help");
        EXPECT_EQ(r.code, 0) << verb;
        EXPECT_NE(r.out.find("Usage"), std::string::npos) << verb << ": " << r.out;
        EXPECT_NE(top.out.find(verb), std::string::npos) << verb << " missing from brood --help";
    }
    EXPECT_EQ(run_brood(d, "start").code, 2) << "a missing argument is a usage error";
    EXPECT_EQ(run_brood(d, "frobnicate").code, 2);
    EXPECT_EQ(run_brood(d, "ps", d.dir() + "/nobody.sock").code, 8) << "no daemon";
}

TEST_F(Broodd, CliVerbsAndExitCodes) {
    const std::string kernel = " --kernel " + guest_kernel();
    CliRun created = run_brood(daemon, "--json create cli-a" + kernel);
    ASSERT_EQ(created.code, 0) << created.out;
    EXPECT_EQ(nlohmann::json::parse(created.out)["state"], "Created");
    EXPECT_EQ(run_brood(daemon, "create cli-a" + kernel).code, 5) << "duplicate name: conflict";
    EXPECT_EQ(run_brood(daemon, "create Not_Valid" + kernel).code, 3) << "invalid name: bad request";
    EXPECT_EQ(run_brood(daemon, "create cli-z -m 0" + kernel).code, 3);
    EXPECT_EQ(run_brood(daemon, "inspect nope").code, 4);
    EXPECT_EQ(run_brood(daemon, "standby cli-a").code, 5) << "standby of a Created instance: wrong state";

    CliRun run = run_brood(daemon, "run cli-b -m 128" + kernel);
    ASSERT_EQ(run.code, 0) << run.out;
    EXPECT_NE(run.out.find("Running"), std::string::npos) << run.out;
    ASSERT_TRUE(daemon.wait_guest_ready("cli-b"));
    CliRun ps = run_brood(daemon, "ps");
    EXPECT_EQ(ps.code, 0);
    EXPECT_EQ(ps.out.rfind("ID ", 0), 0u) << ps.out;
    EXPECT_NE(ps.out.find("cli-a"), std::string::npos);
    EXPECT_NE(ps.out.find("Created"), std::string::npos);
    CliRun ps_json = run_brood(daemon, "--json ps");
    EXPECT_EQ(nlohmann::json::parse(ps_json.out).size(), 2u);

    CliRun pong = run_brood(daemon, "console cli-b ping --until pong");
    EXPECT_EQ(pong.code, 0);
    EXPECT_EQ(pong.out, "pong\n");
    EXPECT_EQ(run_brood(daemon, "console cli-b ping --until nothing -t 200").code, 7) << "timeout";
    CliRun logs = run_brood(daemon, "logs cli-b");
    EXPECT_NE(logs.out.find("brood-guest ready"), std::string::npos);
    EXPECT_EQ(run_brood(daemon, "logs cli-b -n 1").out, "pong\n");

    CliRun follow;
    std::thread follower([&] { follow = run_brood(daemon, "logs -f cli-b"); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(run_brood(daemon, "standby cli-b").code, 0);
    follower.join();
    EXPECT_EQ(follow.code, 0);
    EXPECT_NE(follow.out.find("brood-guest ready"), std::string::npos);

    EXPECT_EQ(run_brood(daemon, "restore cli-b").code, 0);
    EXPECT_EQ(run_brood(daemon, "console cli-b count -u count").out, "count 1\n");
    EXPECT_EQ(run_brood(daemon, "stop cli-b -t 100").code, 0);
    CliRun inspect = run_brood(daemon, "inspect cli-b");
    EXPECT_EQ(nlohmann::json::parse(inspect.out)["state"], "Stopped");
    EXPECT_EQ(run_brood(daemon, "rm cli-a cli-b").code, 0);
    EXPECT_EQ(run_brood(daemon, "rm cli-a").code, 4);
    EXPECT_EQ(nlohmann::json::parse(run_brood(daemon, "--json ps").out).size(), 0u);
}

TEST_F(Broodd, CliForksAndTemplates) {
    const std::string kernel = " --kernel " + guest_kernel();
    ASSERT_EQ(run_brood(daemon, "run base" + kernel).code, 0);
    ASSERT_TRUE(daemon.wait_guest_ready("base"));
    EXPECT_EQ(run_brood(daemon, "template promote base tpl").code, 5) << "a Running instance cannot be promoted";
    ASSERT_EQ(run_brood(daemon, "standby base").code, 0);
    CliRun created = run_brood(daemon, "template promote base tpl --tag team=infra");
    ASSERT_EQ(created.code, 0) << created.out;
    EXPECT_NE(created.out.find("tpl"), std::string::npos);
    CliRun forks = run_brood(daemon, "--json fork --template tpl w --count 2");
    ASSERT_EQ(forks.code, 0) << forks.out;
    auto answer = nlohmann::json::parse(forks.out);
    EXPECT_EQ(answer["instances"].size(), 2u);
    EXPECT_TRUE(answer["errors"].empty());
    EXPECT_EQ(run_brood(daemon, "console w-2 ping -u pong").out, "pong\n");
    CliRun one = run_brood(daemon, "fork --template tpl solo --target-state standby");
    ASSERT_EQ(one.code, 0) << one.out;
    EXPECT_NE(one.out.find("Standby"), std::string::npos) << one.out;
    CliRun again = run_brood(daemon, "template fork tpl --prefix w --count 3");
    EXPECT_EQ(again.code, 5) << "w-1 and w-2 exist: conflict\n" << again.out;
    EXPECT_NE(again.out.find("fork w-1 failed"), std::string::npos) << again.out;
    EXPECT_NE(again.out.find("w-3"), std::string::npos) << "the fork that could be made is listed: " << again.out;
    // --stream: a line per fork as it runs, failures on stderr, the totals.
    CliRun streamed = run_brood(daemon, "fork --template tpl st --count 2 --stream");
    EXPECT_EQ(streamed.code, 0) << streamed.out;
    EXPECT_NE(streamed.out.find("st-1"), std::string::npos) << streamed.out;
    EXPECT_NE(streamed.out.find("st-2"), std::string::npos) << streamed.out;
    EXPECT_NE(streamed.out.find("2 made, 0 failed"), std::string::npos) << streamed.out;
    CliRun streamed_again = run_brood(daemon, "--json template fork tpl --prefix st --count 2 --stream");
    EXPECT_EQ(streamed_again.code, 5) << "st-1 and st-2 exist: conflict\n" << streamed_again.out;
    EXPECT_NE(streamed_again.out.find("\"event\":\"done\""), std::string::npos) << streamed_again.out;
    EXPECT_EQ(run_brood(daemon, "fork --template nope x --stream").code, 4);
    EXPECT_EQ(run_brood(daemon, "fork w-1 x --stream").code, 2) << "usage: only template forks stream";
    EXPECT_EQ(run_brood(daemon, "rm st-1 st-2").code, 0);
    CliRun ls = run_brood(daemon, "template ls");
    EXPECT_NE(ls.out.find("FORKS"), std::string::npos);
    EXPECT_EQ(nlohmann::json::parse(run_brood(daemon, "template inspect tpl").out)["fork_count"], 4);
    EXPECT_EQ(run_brood(daemon, "template rm tpl").code, 5) << "live forks";
    EXPECT_EQ(run_brood(daemon, "rm base").code, 5) << "the source of a template with live forks";
    EXPECT_EQ(run_brood(daemon, "fork w-1 copy --from-running").code, 0);
    EXPECT_EQ(run_brood(daemon, "fork --template tpl a b").code, 2) << "usage";
    EXPECT_EQ(run_brood(daemon, "fork w-1 x --count 2").code, 2) << "usage";
    EXPECT_EQ(run_brood(daemon, "rm w-1 w-2 w-3 solo copy").code, 0);
    EXPECT_EQ(run_brood(daemon, "template rm tpl").code, 0);
    EXPECT_EQ(run_brood(daemon, "template inspect tpl").code, 4);
}

TEST(BroodCli, EscapesGuestBytesUnlessRaw) {
    // A stand-in daemon whose guest prints terminal controls and invalid UTF-8.
    char tmpl[] = "/tmp/brood-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    std::string dir = tmpl, socket = dir + "/api.sock";
    brood::http::Router router;
    router.add("POST", "/instances/{id}/console", [](brood::http::Request&) {
        return brood::http::json(200, {{"output", "ok\x1b]0;pwned\x07\xc2\x9b" "2J\n"}});
    });
    router.add("GET", "/instances/{id}/logs", [](brood::http::Request&) {
        brood::http::Response r;
        r.content_type = "text/plain";
        r.body = "a\x1b[2Jb\xff\xe2\x9c\x93\n";
        return r;
    });
    auto server = brood::http::Server::listen_unix(socket, 0600);
    ASSERT_TRUE(server) << server.error().message();
    ASSERT_TRUE(server->start(std::move(router)));
    auto run = [&](const std::string& args) {
        std::string cmd = "BROOD_SOCKET=" + socket + " " + brood_binary() + " " + args + " 2>&1";
        std::string out;
        FILE* pipe = ::popen(cmd.c_str(), "r");
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
        ::pclose(pipe);
        return out;
    };
    EXPECT_EQ(run("console vm ping"), "ok\\x1b]0;pwned\\x07\\xc2\\x9b2J\n");
    EXPECT_EQ(run("logs vm"), "a\\x1b[2Jb\\xff\xe2\x9c\x93\n");
    EXPECT_EQ(run("console vm ping --raw"), "ok\x1b]0;pwned\x07\xc2\x9b" "2J\n");
    EXPECT_EQ(run("logs vm --raw"), "a\x1b[2Jb\xff\xe2\x9c\x93\n");
    server->stop();
    std::filesystem::remove_all(dir);
}
