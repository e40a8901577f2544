// Runs jobs 0..count-1 on up to `concurrency` threads (the caller's among
// them) and returns when all have finished. Jobs must not throw.
#pragma once

#include <cstddef>
#include <functional>

namespace brood::manager {

void run_parallel(size_t count, int concurrency, const std::function<void(size_t)>& job);

} // namespace brood::manager
