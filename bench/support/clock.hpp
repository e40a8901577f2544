// The one clock every bench measures with.
#pragma once

#include <chrono>

namespace brood::bench {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

inline double ms_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

inline Clock::time_point deadline_in(Millis timeout) { return Clock::now() + timeout; }

} // namespace brood::bench
