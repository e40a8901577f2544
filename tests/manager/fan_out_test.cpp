// run_parallel: every job runs once, never more at a time than asked.
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "manager/fan_out.hpp"

using brood::manager::run_parallel;

TEST(FanOut, RunsEveryJobOnceWithinTheConcurrency) {
    for (int concurrency : {1, 3, 8, 64}) {
        std::vector<std::atomic<int>> runs(20);
        std::atomic<int> running{0}, peak{0};
        run_parallel(runs.size(), concurrency, [&](size_t i) {
            int now = ++running;
            for (int seen = peak.load(); now > seen && !peak.compare_exchange_weak(seen, now);) {
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            ++runs[i];
            --running;
        });
        for (const auto& r : runs) EXPECT_EQ(r.load(), 1);
        EXPECT_LE(peak.load(), std::min(concurrency, 20)) << concurrency;
        if (concurrency > 1) {
            EXPECT_GT(peak.load(), 1) << "nothing ran in parallel";
        }
    }
}

TEST(FanOut, NoJobsAndNonsenseConcurrencyAreHarmless) {
    int calls = 0;
    run_parallel(0, 4, [&](size_t) { ++calls; });
    run_parallel(3, 0, [&](size_t) { ++calls; });
    EXPECT_EQ(calls, 3);
}
