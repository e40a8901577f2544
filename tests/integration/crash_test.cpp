// broodd killed in the middle of operations (at each named step of a start,
// a standby and a template fork through --crash-at, and at moments of a
// delete and a create): after a restart, records, VMM processes,
// directories and fork counts agree, and nothing leaks.
#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>

#include "fork_fixture.hpp"
#include "manager/fork_steps.hpp"
#include "manager/vmm_steps.hpp"

using namespace brood::testing;
namespace fs = std::filesystem;

namespace {

// Starts broodd so that it kills itself (SIGKILL) when an operation reaches
// `point` (broodd --crash-at), sends the request, which then gets no
// answer, and starts a daemon without the crash point in its place.
void crash_at(Daemon& d, const std::string& point, const std::string& method, const std::string& path,
              const nlohmann::json& body = nullptr) {
    d.kill9();
    d.start({"--crash-at", point});
    Reply reply = d.call(method, path, body);
    EXPECT_EQ(reply.status, 0) << "the daemon answered before reaching " << point << ": " << reply.text;
    d.kill9(); // reaps it
    d.start();
}

// Kills broodd after `delay_us` of a request, where no named step exists.
void crash_during(Daemon& d, const std::string& method, const std::string& path, int delay_us) {
    std::thread request([&] { d.call(method, path); });
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us));
    d.kill9();
    request.join();
    d.start();
}

const int kDelaysUs[] = {0, 300, 1'000, 3'000, 8'000, 20'000};

std::string step_name(brood::manager::VmmStep step) { return std::string(brood::manager::to_string(step)); }
std::string step_name(brood::manager::ForkStep step) { return std::string(brood::manager::to_string(step)); }

} // namespace

TEST_F(Broodd, CrashAtEachStepOfAStartThenRestartIsConsistent) {
    for (auto step : {brood::manager::VmmStep::spawned, brood::manager::VmmStep::ready}) {
        std::string point = "vmm:" + step_name(step);
        SCOPED_TRACE(point);
        std::string name = "s-" + step_name(step);
        daemon.create(name);
        crash_at(daemon, point, "POST", "/instances/" + name + "/start");
        expect_consistent(daemon);
        // The start was never committed: the restarted daemon kills the VMM
        // it finds (pending start) or adopts it; either way it can start.
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

TEST_F(Broodd, CrashAtEachStepOfAStandbyThenRestartIsConsistent) {
    running("sb");
    int expected_count = 0;
    for (auto step : {brood::manager::VmmStep::standby_pause, brood::manager::VmmStep::standby_snapshot,
                      brood::manager::VmmStep::standby_install}) {
        std::string point = "vmm:" + step_name(step);
        SCOPED_TRACE(point);
        EXPECT_EQ(daemon.console("sb", "count", "count"), "count " + std::to_string(++expected_count) + "\n");
        crash_at(daemon, point, "POST", "/instances/sb/standby");
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

// Every step of a template fork: after the restart the fork is whole
// (Running or Standby, counted) or absent (not counted), the template still
// forks, and the template's memory file is untouched.
TEST_F(Forks, CrashAtEachStepOfATemplateForkThenRestartIsConsistent) {
    make_template();
    std::string template_memory = memory_of(id_of("src"));
    uint64_t hash_before = file_hash(template_memory);
    for (auto step : brood::manager::kForkSteps) {
        std::string point = "fork:" + step_name(step);
        SCOPED_TRACE(point);
        std::string name = "f-" + step_name(step);
        std::replace(name.begin(), name.end(), '_', '-');
        crash_at(daemon, point, "POST", "/templates/tpl/fork", {{"name", name}});
        expect_consistent(daemon);
        auto got = daemon.call("GET", "/instances/" + name);
        if (got.status == 200) {
            // Published before the crash: whole, counted, and either booted
            // (Running) or not yet (Standby, restorable).
            std::string state = got.body.value("state", "");
            EXPECT_TRUE(state == "Running" || state == "Standby") << got.text;
            if (state == "Standby") {
                EXPECT_EQ(fork_count(), 1);
                EXPECT_EQ(daemon.call("POST", "/instances/" + name + "/restore").status, 200);
            }
            EXPECT_EQ(daemon.console(name, "count", "count"), "count 2\n");
            EXPECT_EQ(daemon.call("DELETE", "/instances/" + name).status, 204);
        } else {
            EXPECT_EQ(got.status, 404) << got.text;
        }
        EXPECT_EQ(fork_count(), 0);
    }
    // The template is whole: it forks, and its memory never changed.
    ASSERT_EQ(fork_template({{"name", "after"}}).size(), 1u);
    EXPECT_EQ(daemon.console("after", "count", "count"), "count 2\n");
    EXPECT_EQ(file_hash(template_memory), hash_before);
    expect_consistent(daemon);
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
