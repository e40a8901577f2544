// Median and spread of repeated measurements.
#pragma once

#include <cstddef>
#include <vector>

namespace brood::bench {

struct Summary {
    size_t n = 0;
    double min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
};

// Percentile p (0..100) of sorted samples, interpolating linearly between
// closest ranks (numpy's default), so p50 of an even count is the midpoint.
double percentile(const std::vector<double>& sorted, double p);
Summary summarize(std::vector<double> samples);

} // namespace brood::bench
