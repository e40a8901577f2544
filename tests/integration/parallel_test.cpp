// Operations on different instances run in parallel; on one, they serialise.
#include <algorithm>
#include <atomic>
#include <fstream>
#include <regex>
#include <thread>

#include "fixture.hpp"

using namespace brood::testing;

namespace {

// When each `op` ran in the daemon, in ms of the day: its log line is
// written at the end ("[YYYY-MM-DD HH:MM:SS.mmm] ... op op=OP ...
// duration_ms=D"), so it began D ms before.
std::vector<std::pair<double, double>> op_intervals(const Daemon& d, const std::string& op) {
    std::ifstream in(d.log());
    std::regex line(R"(^\[\d{4}-\d\d-\d\d (\d\d):(\d\d):(\d\d)\.(\d{3})\] .* op op=)" + op +
                    R"( .* duration_ms=([0-9.]+) result=ok)");
    std::vector<std::pair<double, double>> out;
    std::smatch m;
    for (std::string text; std::getline(in, text);) {
        if (!std::regex_search(text, m, line)) continue;
        double end = ((std::stod(m[1]) * 60 + std::stod(m[2])) * 60 + std::stod(m[3])) * 1000 + std::stod(m[4]);
        out.emplace_back(end - std::stod(m[5]), end);
    }
    return out;
}

// The longest time two of the intervals ran together.
double longest_overlap(const std::vector<std::pair<double, double>>& intervals) {
    double best = 0;
    for (size_t i = 0; i < intervals.size(); ++i)
        for (size_t j = i + 1; j < intervals.size(); ++j)
            best = std::max(best, std::min(intervals[i].second, intervals[j].second) -
                                      std::max(intervals[i].first, intervals[j].first));
    return best;
}

} // namespace

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
    // The daemon ran the starts at the same time, not one after another
    // (the log's times have 1 ms steps: more than that is an overlap).
    auto starts = op_intervals(daemon, "start");
    ASSERT_EQ(starts.size(), static_cast<size_t>(kCount));
    EXPECT_GT(longest_overlap(starts), 2.0) << "the starts ran one after another";
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
