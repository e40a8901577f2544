// Output of every bench: one JSON object per line on stdout, progress and
// notes on stderr. Schema (docs/benchmarks.md):
//   {"bench","subject","metric","unit","value"(= p50),"p50","p90","p99",
//    "min","max","mean","n", ...params [, "samples"]}
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace brood::bench {

// Samples of one metric for one subject under one set of parameters.
struct Series {
    std::string subject;
    std::string metric;
    std::string unit;
    nlohmann::json params = nlohmann::json::object();
    std::vector<double> samples;
};

class Reporter final {
public:
    // With BROOD_BENCH_SAMPLES set in the environment, every line also
    // carries "samples": the measurements in the order they were taken.
    explicit Reporter(std::string bench);

    // The series called (subject, metric, params), created on first use.
    Series& series(const std::string& subject, const std::string& metric, const std::string& unit,
                   const nlohmann::json& params);
    void add(const std::string& subject, const std::string& metric, const std::string& unit,
             const nlohmann::json& params, double sample) {
        series(subject, metric, unit, params).samples.push_back(sample);
    }
    // Prints one line per series, in the order they were created, and forgets them.
    void flush();

private:
    std::string _bench;
    bool _with_samples = false;
    std::vector<Series> _series;
};

template <typename... Args>
void note(fmt::format_string<Args...> format, Args&&... args) {
    fmt::print(stderr, "{}\n", fmt::format(format, std::forward<Args>(args)...));
    std::fflush(stderr);
}

} // namespace brood::bench
