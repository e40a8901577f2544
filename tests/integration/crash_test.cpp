// kill -9 of broodd in the middle of operations: after a restart, records,
// VMM processes and directories agree, and nothing leaks.
#include <filesystem>
#include <set>
#include <thread>

#include "fixture.hpp"

using namespace brood::testing;
namespace fs = std::filesystem;

namespace {

// Sends a request, kills the daemon after `delay_us`, restarts it.
void crash_during(Daemon& d, const std::string& method, const std::string& path, int delay_us) {
    std::thread request([&] { d.call(method, path); });
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    d.kill9();
    request.join();
    d.start();
}

const int kDelaysUs[] = {0, 300, 1'000, 3'000, 8'000, 20'000};

} // namespace

TEST_F(Broodd, KillDuringStartThenRestartIsConsistent) {
    for (int delay : kDelaysUs) {
        SCOPED_TRACE("delay " + std::to_string(delay) + " us");
        std::string name = "s" + std::to_string(delay);
        daemon.create(name);
        crash_during(daemon, "POST", "/instances/" + name + "/start", delay);
        expect_consistent(daemon);
        std::string state = state_of(name);
        EXPECT_TRUE(state == "Created" || state == "Running") << state;
        size_t log_before = 0;
        if (state != "Running") {
            log_before = daemon.log_size(name);
            ASSERT_EQ(daemon.call("POST", "/instances/" + name + "/start").status, 200);
        }
        ASSERT_TRUE(daemon.wait_guest_ready(name, log_before));
        EXPECT_EQ(daemon.console(name, "ping", "pong"), "pong\n");
    }
}

TEST_F(Broodd, KillDuringStandbyThenRestartIsConsistent) {
    running("sb");
    int expected_count = 0;
    for (int delay : kDelaysUs) {
        SCOPED_TRACE("delay " + std::to_string(delay) + " us");
        EXPECT_EQ(daemon.console("sb", "count", "count"), "count " + std::to_string(++expected_count) + "\n");
        crash_during(daemon, "POST", "/instances/sb/standby", delay);
        expect_consistent(daemon);
        std::string state = state_of("sb");
        EXPECT_TRUE(state == "Running" || state == "Standby") << state;
        if (state == "Standby") {
            ASSERT_EQ(daemon.call("POST", "/instances/sb/restore").status, 200);
        }
        // Whichever way it went, the guest's memory is intact.
        EXPECT_EQ(daemon.console("sb", "count", "count"), "count " + std::to_string(++expected_count) + "\n");
    }
}

TEST_F(Broodd, KillDuringDeleteThenRestartIsConsistent) {
    for (int delay : kDelaysUs) {
        SCOPED_TRACE("delay " + std::to_string(delay) + " us");
        std::string name = "d" + std::to_string(delay);
        running(name);
        crash_during(daemon, "DELETE", "/instances/" + name, delay);
        expect_consistent(daemon);
        auto got = daemon.call("GET", "/instances/" + name);
        EXPECT_TRUE(got.status == 404 || got.body.value("state", "") == "Running") << got.text;
        if (got.status == 200) {
            EXPECT_EQ(daemon.call("DELETE", "/instances/" + name).status, 204);
        }
    }
    expect_consistent(daemon);
    EXPECT_TRUE(daemon.call("GET", "/instances").body.empty());
}

TEST_F(Broodd, KillDuringCreateLeavesNoHalfDirectory) {
    for (int delay : kDelaysUs) {
        std::string name = "c" + std::to_string(delay);
        std::thread request([&] {
            daemon.call("POST", "/instances", {{"name", name}, {"kernel", guest_kernel()}});
        });
        std::this_thread::sleep_for(std::chrono::microseconds(delay));
        daemon.kill9();
        request.join();
        // Simulate the worst case too: a staging directory left behind.
        fs::create_directories(daemon.guests_dir() + "/.creating-00000000000000aa/logs");
        daemon.start();
        expect_consistent(daemon);
    }
}
