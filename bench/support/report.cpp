#include "support/report.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "support/stats.hpp"

namespace brood::bench {
namespace {

// Three decimals: microseconds for ms, KiB-ish for MiB; integers stay integers.
nlohmann::ordered_json rounded(double v) {
    if (std::floor(v) == v && std::fabs(v) < 9e15) return static_cast<int64_t>(v);
    return std::round(v * 1000.0) / 1000.0;
}

} // namespace

Reporter::Reporter(std::string bench)
    : _bench(std::move(bench)), _with_samples(std::getenv("BROOD_BENCH_SAMPLES") != nullptr) {}

Series& Reporter::series(const std::string& subject, const std::string& metric, const std::string& unit,
                         const nlohmann::json& params) {
    for (auto& s : _series)
        if (s.subject == subject && s.metric == metric && s.params == params) return s;
    _series.push_back(Series{subject, metric, unit, params, {}});
    return _series.back();
}

void Reporter::flush() {
    for (const auto& s : _series) {
        if (s.samples.empty()) continue;
        Summary sum = summarize(s.samples);
        nlohmann::ordered_json line;
        line["bench"] = _bench;
        line["subject"] = s.subject;
        line["metric"] = s.metric;
        line["value"] = rounded(sum.p50);
        line["unit"] = s.unit;
        for (const auto& [key, value] : s.params.items()) line[key] = value;
        line["p50"] = rounded(sum.p50);
        line["p90"] = rounded(sum.p90);
        line["p99"] = rounded(sum.p99);
        line["min"] = rounded(sum.min);
        line["max"] = rounded(sum.max);
        line["mean"] = rounded(sum.mean);
        line["n"] = sum.n;
        if (_with_samples) {
            auto& all = line["samples"] = nlohmann::ordered_json::array();
            for (double v : s.samples) all.push_back(rounded(v));
        }
        std::fputs((line.dump() + "\n").c_str(), stdout);
    }
    std::fflush(stdout);
    _series.clear();
}

} // namespace brood::bench
