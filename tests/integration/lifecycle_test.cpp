// The main path of an instance, driven like a user over the API.
#include <signal.h>

#include <filesystem>
#include <thread>

#include "common/http/client.hpp"
#include "fixture.hpp"

using namespace brood::testing;
namespace fs = std::filesystem;

TEST_F(Broodd, FullLifecycle) {
    auto created = daemon.create("life");
    std::string id = created.value("id", "");
    EXPECT_EQ(created.value("state", ""), "Created");
    EXPECT_EQ(created.value("memory_mib", 0), 128);
    EXPECT_TRUE(fs::exists(daemon.guests_dir() + "/" + id + "/metadata.json"));

    auto started = daemon.call("POST", "/instances/life/start");
    ASSERT_EQ(started.status, 200) << started.text;
    EXPECT_EQ(started.body["state"], "Running");
    ASSERT_TRUE(daemon.wait_guest_ready("life"));
    EXPECT_EQ(daemon.console("life", "ping", "pong"), "pong\n");
    EXPECT_EQ(daemon.console("life", "count", "count"), "count 1\n");
    EXPECT_EQ(daemon.console("life", "count", "count"), "count 2\n");

    auto standby = daemon.call("POST", "/instances/" + id + "/standby");
    ASSERT_EQ(standby.status, 200) << standby.text;
    EXPECT_EQ(standby.body["state"], "Standby");
    EXPECT_TRUE(standby.body["pid"].is_null());
    std::string snap = daemon.guests_dir() + "/" + id + "/snapshots/snapshot-latest/";
    EXPECT_TRUE(fs::exists(snap + "state"));
    EXPECT_TRUE(fs::exists(snap + "memory"));
    EXPECT_TRUE(vmm_processes(daemon.guests_dir()).empty()) << "the VMM must exit on standby";

    auto restored = daemon.call("POST", "/instances/life/restore");
    ASSERT_EQ(restored.status, 200) << restored.text;
    EXPECT_EQ(restored.body["state"], "Running");
    EXPECT_EQ(restored.body["restore_backend"], "file");
    EXPECT_EQ(daemon.console("life", "count", "count"), "count 3\n") << "guest memory must survive standby";

    auto stopped = daemon.call("POST", "/instances/life/stop", {{"timeout_ms", 500}});
    ASSERT_EQ(stopped.status, 200) << stopped.text;
    EXPECT_EQ(stopped.body["state"], "Stopped");
    EXPECT_TRUE(vmm_processes(daemon.guests_dir()).empty());

    size_t log_before = daemon.log_size("life");
    ASSERT_EQ(daemon.call("POST", "/instances/life/start").status, 200);
    ASSERT_TRUE(daemon.wait_guest_ready("life", log_before));
    EXPECT_EQ(daemon.console("life", "count", "count"), "count 1\n") << "a cold boot starts afresh";

    EXPECT_EQ(daemon.call("DELETE", "/instances/life").status, 204);
    EXPECT_EQ(daemon.call("GET", "/instances/" + id).status, 404);
    EXPECT_FALSE(fs::exists(daemon.guests_dir() + "/" + id));
    EXPECT_TRUE(vmm_processes(daemon.guests_dir()).empty());
}

TEST_F(Broodd, KilledVmmShowsFailedWithReason) {
    std::string id = running("victim");
    pid_t pid = daemon.call("GET", "/instances/" + id).body.value("pid", 0);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    std::string state;
    for (int i = 0; i < 100 && (state = state_of(id)) != "Failed"; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto got = daemon.call("GET", "/instances/" + id).body;
    EXPECT_EQ(got["state"], "Failed");
    EXPECT_NE(got["failure_reason"].get<std::string>().find("signal 9"), std::string::npos) << got.dump();
    EXPECT_EQ(got["last_exit"]["signal"], 9);
    // A Failed instance can be started again.
    EXPECT_EQ(daemon.call("POST", "/instances/" + id + "/start").status, 200);
    EXPECT_TRUE(daemon.wait_guest_ready(id));
}

TEST_F(Broodd, GuestPoweroffMeansStopped) {
    std::string id = running("off");
    daemon.call("POST", "/instances/off/console", {{"input", "poweroff"}, {"until", "never"}, {"timeout_ms", 300}});
    std::string state;
    for (int i = 0; i < 200 && (state = state_of(id)) == "Running"; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto got = daemon.call("GET", "/instances/" + id).body;
    EXPECT_EQ(got["state"], "Stopped") << got.dump();
    EXPECT_EQ(got["last_exit"]["exit_code"], 0);
}

TEST_F(Broodd, PauseAndResume) {
    running("pz");
    auto paused = daemon.call("POST", "/instances/pz/pause");
    ASSERT_EQ(paused.status, 200) << paused.text;
    EXPECT_EQ(paused.body["state"], "Paused");
    EXPECT_EQ(daemon.call("POST", "/instances/pz/console", {{"input", "ping"}, {"until", "pong"}}).status, 409);
    // Standby works from Paused too.
    auto standby = daemon.call("POST", "/instances/pz/standby");
    ASSERT_EQ(standby.status, 200) << standby.text;
    ASSERT_EQ(daemon.call("POST", "/instances/pz/restore").status, 200);
    EXPECT_EQ(daemon.console("pz", "ping", "pong"), "pong\n");
    EXPECT_EQ(daemon.call("POST", "/instances/pz/resume").status, 409);
}

TEST_F(Broodd, LogsFollowStreamsUntilTheVmStops) {
    std::string id = running("follow");
    std::string seen;
    std::thread reader([&] {
        auto client = brood::http::Client::connect_unix(daemon.socket());
        ASSERT_TRUE(client);
        auto r = client->stream("GET", "/instances/follow/logs?follow=true", [&](std::string_view d) {
            seen += d;
            return true;
        }, 30'000);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    daemon.console("follow", "ping", "pong");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(daemon.call("POST", "/instances/follow/stop", {{"timeout_ms", 200}}).status, 200);
    reader.join(); // the stream ends once the VMM is gone
    EXPECT_NE(seen.find("brood-guest ready"), std::string::npos);
    EXPECT_NE(seen.find("pong"), std::string::npos);
    auto tail = daemon.call("GET", "/instances/follow/logs?tail=1");
    EXPECT_EQ(tail.status, 200);
    EXPECT_EQ(tail.text, "pong\n");
}

TEST_F(Broodd, ConsoleTimeoutIs504WithPartialOutput) {
    running("slow");
    auto r = daemon.call("POST", "/instances/slow/console",
                         {{"input", "ping"}, {"until", "never-printed"}, {"timeout_ms", 300}});
    EXPECT_EQ(r.status, 504) << r.text;
    EXPECT_EQ(r.body["code"], "timeout");
    EXPECT_EQ(r.body["output"], "pong\n");
}

TEST_F(Broodd, MetricsCountStatesAndOperations) {
    running("m1");
    daemon.create("m2");
    auto r = daemon.call("GET", "/metrics");
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.content_type.find("text/plain"), std::string::npos);
    EXPECT_NE(r.text.find("brood_instances{state=\"Running\"} 1\n"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("brood_instances{state=\"Created\"} 1\n"), std::string::npos);
    EXPECT_NE(r.text.find("brood_operations_total{op=\"start\",result=\"ok\"} 1\n"), std::string::npos);
    EXPECT_NE(r.text.find("brood_operation_duration_seconds_bucket{op=\"create\",le=\"+Inf\"} 2\n"),
              std::string::npos);
    EXPECT_NE(r.text.find("brood_http_requests_total{method=\"POST\",route=\"/instances\",status=\"201\"} 2"),
              std::string::npos);
}

TEST_F(Broodd, RestartedDaemonAdoptsRunningVmm) {
    std::string id = running("keep");
    EXPECT_EQ(daemon.console("keep", "count", "count"), "count 1\n");
    pid_t vmm = daemon.call("GET", "/instances/keep").body.value("pid", 0);
    daemon.kill9();
    EXPECT_EQ(::kill(vmm, 0), 0) << "a dying daemon must not take its VMMs along";
    daemon.start();
    auto got = daemon.call("GET", "/instances/keep").body;
    EXPECT_EQ(got["state"], "Running");
    EXPECT_EQ(got["pid"], vmm);
    EXPECT_EQ(daemon.console("keep", "count", "count"), "count 2\n");
    // It is fully managed: standby and restore still work, and death is noticed.
    ASSERT_EQ(daemon.call("POST", "/instances/keep/standby").status, 200);
    ASSERT_EQ(daemon.call("POST", "/instances/keep/restore").status, 200);
    EXPECT_EQ(daemon.console("keep", "count", "count"), "count 3\n");
}

TEST_F(Broodd, AdoptedVmmDeathIsNoticed) {
    std::string id = running("adopted");
    pid_t vmm = daemon.call("GET", "/instances/adopted").body.value("pid", 0);
    daemon.kill9();
    daemon.start();
    ASSERT_EQ(::kill(vmm, SIGKILL), 0);
    std::string state;
    for (int i = 0; i < 100 && (state = state_of(id)) != "Failed"; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(state, "Failed");
}

TEST(BrooddTcp, RefusesTcpWithoutTokenAndChecksIt) {
    Daemon d;
    std::string log;
    {
        // Without a token: exit code 2, nothing listens.
        std::string cmd = broodd_binary() + " --data-dir " + d.data_dir() + " --socket " + d.socket() +
                          " --tcp 127.0.0.1:0 > " + d.dir() + "/out.txt 2>&1";
        ::unsetenv("BROOD_TOKEN");
        int rc = std::system(cmd.c_str());
        EXPECT_EQ(WEXITSTATUS(rc), 2);
    }
    std::string address = "127.0.0.1:" + std::to_string(free_tcp_port());
    ::setenv("BROOD_TOKEN", "t0ken", 1);
    d.start({"--tcp", address});
    ::unsetenv("BROOD_TOKEN");
    auto client = brood::http::connect("tcp://" + address);
    ASSERT_TRUE(client) << client.error().message();
    EXPECT_EQ(client->request("GET", "/instances")->status, 401);
    client->set_bearer_token("t0ken");
    EXPECT_EQ(client->request("GET", "/instances")->status, 200);
}
