#include "manager/fan_out.hpp"

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

namespace brood::manager {

void run_parallel(size_t count, int concurrency, const std::function<void(size_t)>& job) {
    std::atomic<size_t> next{0};
    auto worker = [&] {
        for (size_t i = next++; i < count; i = next++) job(i);
    };
    size_t threads = std::min(count, static_cast<size_t>(std::max(concurrency, 1)));
    std::vector<std::thread> helpers;
    for (size_t t = 1; t < threads; ++t) helpers.emplace_back(worker);
    worker();
    for (auto& h : helpers) h.join();
}

} // namespace brood::manager
