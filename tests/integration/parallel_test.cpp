// Operations on different instances run in parallel; on one, they serialise.
#include <atomic>
#include <thread>

#include "fixture.hpp"

using namespace brood::testing;

TEST_F(Broodd, TwentyInstancesCreatedAndStartedInParallel) {
    constexpr int kCount = 20;
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < kCount; ++i)
        threads.emplace_back([&, i] {
            std::string name = "par-" + std::to_string(i);
            auto created = daemon.call("POST", "/instances",
                                       {{"name", name}, {"kernel", guest_kernel()}, {"memory_mib", 128}});
            if (created.status != 201) return;
            auto started = daemon.call("POST", "/instances/" + name + "/start");
            if (started.status == 200 && started.body.value("state", "") == "Running") ++ok;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(ok.load(), kCount);
    auto list = daemon.call("GET", "/instances").body;
    ASSERT_EQ(list.size(), static_cast<size_t>(kCount));
    for (const auto& inst : list) EXPECT_EQ(inst["state"], "Running") << inst.dump();
    EXPECT_EQ(vmm_processes(daemon.guests_dir()).size(), static_cast<size_t>(kCount));
    // Each VM is its own: every one answers on its console.
    threads.clear();
    std::atomic<int> answered{0};
    for (int i = 0; i < kCount; ++i)
        threads.emplace_back([&, i] {
            std::string name = "par-" + std::to_string(i);
            if (daemon.wait_guest_ready(name) && daemon.console(name, "ping", "pong") == "pong\n") ++answered;
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(answered.load(), kCount);
    threads.clear();
    for (int i = 0; i < kCount; ++i)
        threads.emplace_back([&, i] { daemon.call("DELETE", "/instances/par-" + std::to_string(i)); });
    for (auto& t : threads) t.join();
    EXPECT_TRUE(daemon.call("GET", "/instances").body.empty());
    EXPECT_TRUE(vmm_processes(daemon.guests_dir()).empty());
}

TEST_F(Broodd, ConcurrentStandbyOneWinsOneConflicts) {
    running("twice");
    int statuses[2] = {0, 0};
    std::thread a([&] { statuses[0] = daemon.call("POST", "/instances/twice/standby").status; });
    std::thread b([&] { statuses[1] = daemon.call("POST", "/instances/twice/standby").status; });
    a.join();
    b.join();
    std::sort(std::begin(statuses), std::end(statuses));
    EXPECT_EQ(statuses[0], 200);
    EXPECT_EQ(statuses[1], 409);
    EXPECT_EQ(state_of("twice"), "Standby");
    ASSERT_EQ(daemon.call("POST", "/instances/twice/restore").status, 200);
    EXPECT_EQ(daemon.console("twice", "ping", "pong"), "pong\n");
}
