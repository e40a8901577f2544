#include <gtest/gtest.h>

#include "manager/metrics.hpp"

using namespace brood::manager;

TEST(Metrics, PrometheusTextHasGaugesCountersAndCumulativeBuckets) {
    Metrics m;
    m.observe_operation("start", true, std::chrono::milliseconds(3));
    m.observe_operation("start", false, std::chrono::milliseconds(300));
    m.observe_request("GET", "/instances/{id}", 200, std::chrono::microseconds(200));
    std::string text = m.render({{"Running", 2}, {"Stopped", 0}});
    EXPECT_NE(text.find("# TYPE brood_instances gauge\n"), std::string::npos);
    EXPECT_NE(text.find("brood_instances{state=\"Running\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("brood_operations_total{op=\"start\",result=\"ok\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("brood_operations_total{op=\"start\",result=\"error\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("brood_operation_duration_seconds_bucket{op=\"start\",le=\"0.005\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("brood_operation_duration_seconds_bucket{op=\"start\",le=\"0.5\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("brood_operation_duration_seconds_bucket{op=\"start\",le=\"+Inf\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("brood_operation_duration_seconds_count{op=\"start\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("brood_http_requests_total{method=\"GET\",route=\"/instances/{id}\",status=\"200\"} 1\n"),
              std::string::npos);
}

TEST(Metrics, RequestLabelsAreBounded) {
    Metrics m;
    for (int i = 0; i < 50; ++i)
        m.observe_request("X" + std::to_string(i), "", 405, std::chrono::microseconds(10));
    m.observe_request("BREW", "/instances/{id}", 405, std::chrono::microseconds(10));
    m.observe_request("GET", "", 404, std::chrono::microseconds(10));
    std::string text = m.render({});
    EXPECT_EQ(text.find("method=\"X"), std::string::npos);
    EXPECT_EQ(text.find("BREW"), std::string::npos);
    EXPECT_NE(text.find("brood_http_requests_total{method=\"other\",route=\"unmatched\",status=\"405\"} 50\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("brood_http_requests_total{method=\"other\",route=\"/instances/{id}\",status=\"405\"} 1\n"),
              std::string::npos);
    EXPECT_NE(text.find("brood_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1\n"),
              std::string::npos);
}
