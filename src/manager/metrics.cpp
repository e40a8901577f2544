#include "manager/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>

namespace brood::manager {

namespace {

std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return buf;
}

std::string escape(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

std::string join(const std::string& a, const std::string& b) { return a.empty() ? b : a + "," + b; }

} // namespace

void Histogram::observe(double seconds) {
    for (size_t i = 0; i < kBounds.size(); ++i)
        if (seconds <= kBounds[i]) ++_buckets[i];
    ++_count;
    _sum += seconds;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
    for (size_t i = 0; i < kBounds.size(); ++i)
        out += name + "_bucket{" + join(labels, "le=\"" + number(kBounds[i]) + "\"") + "} " +
               std::to_string(_buckets[i]) + "\n";
    out += name + "_bucket{" + join(labels, "le=\"+Inf\"") + "} " + std::to_string(_count) + "\n";
    std::string braces = labels.empty() ? "" : "{" + labels + "}";
    out += name + "_sum" + braces + " " + number(_sum) + "\n";
    out += name + "_count" + braces + " " + std::to_string(_count) + "\n";
}

void Metrics::observe_operation(const std::string& op, bool ok, std::chrono::nanoseconds elapsed) {
    std::lock_guard lock(_mutex);
    ++_ops[{op, ok ? "ok" : "error"}];
    _op_latency[op].observe(std::chrono::duration<double>(elapsed).count());
}

void Metrics::observe_request(const std::string& method, const std::string& route, int status,
                              std::chrono::nanoseconds elapsed) {
    // Labels come from a fixed set: a client cannot grow the series with
    // made-up methods, and paths appear only as route templates.
    static constexpr std::array<std::string_view, 7> kMethods{"GET",  "HEAD",   "POST",   "PUT",
                                                              "DELETE", "PATCH", "OPTIONS"};
    bool known = std::find(kMethods.begin(), kMethods.end(), method) != kMethods.end();
    std::lock_guard lock(_mutex);
    std::string key = (known ? method : "other") + " " + (route.empty() ? "unmatched" : route);
    ++_requests[{key, status}];
    _request_latency[key].observe(std::chrono::duration<double>(elapsed).count());
}

std::string Metrics::render(const std::map<std::string, int>& instances_by_state) const {
    std::lock_guard lock(_mutex);
    std::string out;
    out += "# HELP brood_instances Instances by state.\n# TYPE brood_instances gauge\n";
    for (const auto& [state, count] : instances_by_state)
        out += "brood_instances{state=\"" + escape(state) + "\"} " + std::to_string(count) + "\n";
    out += "# HELP brood_operations_total Instance operations by result.\n# TYPE brood_operations_total counter\n";
    for (const auto& [key, count] : _ops)
        out += "brood_operations_total{op=\"" + escape(key.first) + "\",result=\"" + key.second + "\"} " +
               std::to_string(count) + "\n";
    out += "# HELP brood_operation_duration_seconds Instance operation latency.\n"
           "# TYPE brood_operation_duration_seconds histogram\n";
    for (const auto& [op, h] : _op_latency)
        h.render(out, "brood_operation_duration_seconds", "op=\"" + escape(op) + "\"");
    out += "# HELP brood_http_requests_total API requests by route and status.\n"
           "# TYPE brood_http_requests_total counter\n";
    for (const auto& [key, count] : _requests) {
        size_t sp = key.first.find(' ');
        out += "brood_http_requests_total{method=\"" + escape(key.first.substr(0, sp)) + "\",route=\"" +
               escape(key.first.substr(sp + 1)) + "\",status=\"" + std::to_string(key.second) + "\"} " +
               std::to_string(count) + "\n";
    }
    out += "# HELP brood_http_request_duration_seconds API request latency by route.\n"
           "# TYPE brood_http_request_duration_seconds histogram\n";
    for (const auto& [key, h] : _request_latency) {
        size_t sp = key.find(' ');
        h.render(out, "brood_http_request_duration_seconds",
                 "method=\"" + escape(key.substr(0, sp)) + "\",route=\"" + escape(key.substr(sp + 1)) + "\"");
    }
    return out;
}

} // namespace brood::manager
