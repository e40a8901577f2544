// Control actions from several connections at once: they run one at a time
// in the VMM's action loop, so a resume never lands inside a snapshot, every
// snapshot restores, and the VM keeps running.
#include <atomic>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kvm_fixture.hpp"
#include "snapshot_helpers.hpp"

namespace brood::test {
namespace {

using ControlRaceTest = KvmTest;

std::string snapshot_body(const std::string& state, const std::string& memory) {
    return nlohmann::json{{"state_path", state}, {"memory_path", memory}}.dump();
}

TEST_F(ControlRaceTest, ResumeWaitsForTheSnapshotInFlight) {
    auto vm = boot_guest(384, 1, subdir("source"));
    std::string touched = ask(vm, "touch 192 5", "touched"); // a snapshot that takes a while to write
    auto paused = vm.api("PUT", "/vm/pause");
    ASSERT_TRUE(paused && paused->status == 204);

    Clock::time_point snapshot_done, resume_done;
    int snapshot_status = 0;
    std::thread snapshotter([&] {
        auto r = vm.api("PUT", "/vm/snapshot", snapshot_body(path("state"), path("memory")));
        snapshot_done = Clock::now();
        snapshot_status = r ? r->status : -1;
    });
    std::this_thread::sleep_for(Millis(30)); // the snapshot is being written now
    auto resume_sent = Clock::now();
    auto resumed = vm.api("PUT", "/vm/resume");
    resume_done = Clock::now();
    snapshotter.join();

    ASSERT_EQ(snapshot_status, 200);
    ASSERT_TRUE(resumed && resumed->status == 204);
    // Both answers leave the VMM together; allow for the order in which the
    // two client threads see them.
    auto ms = [](Clock::duration d) { return std::chrono::duration_cast<Millis>(d).count(); };
    ASSERT_GT(ms(snapshot_done - resume_sent), 50) << "the snapshot was too quick for this test to tell";
    EXPECT_GE(ms(resume_done - resume_sent) + 10, ms(snapshot_done - resume_sent))
        << "a resume was answered while the snapshot was still being written";
    EXPECT_EQ(ask(vm, "ping", "pong"), "pong");
    vm.kill_now();

    auto restored = restore(path("state"), path("memory"), "file", subdir("restored"));
    ASSERT_TRUE(restored) << restored.error().message();
    EXPECT_EQ(ask(*restored, "verify 192 5", "pages="), "ok" + touched.substr(touched.find(' ')));
}

TEST_F(ControlRaceTest, HammeringFromManyConnectionsKeepsEverySnapshotWhole) {
    auto vm = boot_guest(256, 1, subdir("source"));
    std::string touched = ask(vm, "touch 32 9", "touched");

    std::mutex mutex;
    std::vector<std::string> snapshots; // names of the snapshots answered 200
    std::vector<std::string> surprises; // answers no action may give here
    auto expect = [&](const char* what, const Result<http::Response>& r, std::initializer_list<int> allowed) {
        int status = r ? r->status : -1;
        for (int a : allowed)
            if (status == a) return status;
        std::lock_guard lock(mutex);
        surprises.push_back(fmt::format("{}: {} {}", what, status, r ? r->body : r.error().message()));
        return status;
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 30; ++i) {
                expect("pause", vm.api("PUT", "/vm/pause"), {204});
                expect("resume", vm.api("PUT", "/vm/resume"), {204});
            }
        });
    for (int t = 0; t < 2; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 6; ++i) {
                std::string name = fmt::format("s{}-{}", t, i);
                expect("pause", vm.api("PUT", "/vm/pause"), {204});
                // 409 when another connection resumed the VM in between.
                auto r = vm.api("PUT", "/vm/snapshot", snapshot_body(path(name + ".state"), path(name + ".mem")));
                if (expect("snapshot", r, {200, 409}) == 200) {
                    std::lock_guard lock(mutex);
                    snapshots.push_back(name);
                }
            }
        });
    threads.emplace_back([&] {
        for (int i = 0; i < 30; ++i) {
            expect("info", vm.api("GET", "/vm"), {200});
            expect("stats", vm.api("GET", "/vm/stats"), {200});
        }
    });
    for (auto& t : threads) t.join();

    for (const auto& s : surprises) ADD_FAILURE() << s;
    auto resumed = vm.api("PUT", "/vm/resume");
    ASSERT_TRUE(resumed && resumed->status == 204);
    EXPECT_EQ(ask(vm, "ping", "pong"), "pong") << "the VM stopped running";
    EXPECT_TRUE(ask(vm, "verify 32 9", "pages=").starts_with("ok "));
    ASSERT_FALSE(snapshots.empty()) << "no snapshot succeeded";
    vm.kill_now();

    for (const auto& name : snapshots) {
        SCOPED_TRACE(name);
        auto r = restore(path(name + ".state"), path(name + ".mem"), "file", subdir("r-" + name));
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(ask(*r, "verify 32 9", "pages="), "ok" + touched.substr(touched.find(' ')));
        EXPECT_EQ(ask(*r, "ping", "pong"), "pong");
        r->kill_now();
        std::filesystem::remove(path(name + ".mem"));
    }
}

} // namespace
} // namespace brood::test
