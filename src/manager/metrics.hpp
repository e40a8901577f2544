// Counters and latency histograms, rendered in the Prometheus text format.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace brood::manager {

class Histogram final {
public:
    static constexpr std::array<double, 12> kBounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                    0.1,   0.25,   0.5,   1,    2.5,   10};
    void observe(double seconds);
    // Appends name_bucket/_sum/_count lines with the given label set ("" or `a="b"`).
    void render(std::string& out, const std::string& name, const std::string& labels) const;

private:
    std::array<uint64_t, kBounds.size()> _buckets{};
    uint64_t _count = 0;
    double _sum = 0;
};

class Metrics final {
public:
    // One manager operation ("create", "start", ...) and whether it succeeded.
    void observe_operation(const std::string& op, bool ok, std::chrono::nanoseconds elapsed);
    // One HTTP request, by route pattern ("" when none matched: "unmatched").
    // A method outside GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS counts as "other".
    void observe_request(const std::string& method, const std::string& route, int status,
                         std::chrono::nanoseconds elapsed);
    // `instances_by_state` maps a state name to a count.
    std::string render(const std::map<std::string, int>& instances_by_state) const;

private:
    mutable std::mutex _mutex;
    std::map<std::pair<std::string, std::string>, uint64_t> _ops;       // (op, result) -> count
    std::map<std::string, Histogram> _op_latency;                       // op -> histogram
    std::map<std::pair<std::string, int>, uint64_t> _requests;          // (method route, status) -> count
    std::map<std::string, Histogram> _request_latency;                  // "method route" -> histogram
};

} // namespace brood::manager
