// broodd's request bodies, parsed without a manager (src/api/request_bodies).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/request_bodies.hpp"

using namespace brood;

namespace {

// Refused with 400 and a message that mentions `word`.
void expect_bad(const api::BodyError& e, const std::string& word) {
    ASSERT_TRUE(e) << "accepted";
    EXPECT_EQ(e->status, 400);
    EXPECT_NE(e->body.find(word), std::string::npos) << e->body;
}

} // namespace

TEST(RequestBodies, CreateTakesTheSpec) {
    manager::CreateSpec spec;
    EXPECT_FALSE(api::parse_create_body(
        R"({"name":"vm","kernel":"/k","initrd":"/i","cmdline":"c","memory_mib":256,"vcpus":2})", spec));
    EXPECT_EQ(spec.name, "vm");
    EXPECT_EQ(spec.kernel, "/k");
    EXPECT_EQ(spec.initrd, "/i");
    EXPECT_EQ(spec.memory_mib, 256);
    EXPECT_EQ(spec.vcpus, 2);
    manager::CreateSpec other;
    expect_bad(api::parse_create_body(R"({"kernel":"/k"})", other), "name is required");
    expect_bad(api::parse_create_body(R"({"name":"a","kernel":"/k","disk":1})", other), "unknown field");
    expect_bad(api::parse_create_body(R"({"name":"a","kernel":"/k","vcpus":"2"})", other), "must be an integer");
    EXPECT_THROW((void)api::parse_create_body("[1]", other), nlohmann::json::exception);
    EXPECT_THROW((void)api::parse_create_body("{", other), nlohmann::json::exception);
}

TEST(RequestBodies, IntegersAboveInt64AreOutOfRangeNotNegative) {
    // 2^64-1 parses as an unsigned integer; read as int64_t it was -1.
    std::optional<int> timeout;
    expect_bad(api::parse_stop_body(R"({"timeout_ms":18446744073709551615})", timeout), "between 0 and 600000");
    manager::CreateSpec spec;
    expect_bad(api::parse_create_body(R"({"name":"a","kernel":"/k","memory_mib":18446744073709551615})", spec),
               "memory_mib must be between");
}

TEST(RequestBodies, StopAndConsole) {
    std::optional<int> timeout = 7;
    EXPECT_FALSE(api::parse_stop_body("", timeout));
    EXPECT_FALSE(timeout) << "no timeout_ms: the daemon's default";
    EXPECT_FALSE(api::parse_stop_body(R"({"timeout_ms":0})", timeout));
    EXPECT_EQ(timeout, 0);
    expect_bad(api::parse_stop_body(R"({"timeout_ms":600001})", timeout), "between");

    api::ConsoleBody console;
    EXPECT_FALSE(api::parse_console_body(R"({"input":"ping","until":"pong"})", console));
    EXPECT_EQ(console.input, "ping");
    EXPECT_EQ(console.until, "pong");
    EXPECT_EQ(console.timeout_ms, 5000);
    expect_bad(api::parse_console_body(R"({"input":"a\nb"})", console), "single line");
    expect_bad(api::parse_console_body(R"({"input":"a","timeout_ms":0})", console), "between 1 and");
    expect_bad(api::parse_console_body("{}", console), "input is required");
}

TEST(RequestBodies, Template) {
    manager::TemplateSpec spec;
    EXPECT_FALSE(api::parse_template_body(R"({"instance":"base","name":"t","tags":{"a":"b"}})", spec));
    EXPECT_EQ(spec.source, "base");
    EXPECT_EQ(spec.tags.at("a"), "b");
    expect_bad(api::parse_template_body(R"({"instance":"base","name":"t","tags":{"a":1}})", spec), "tag a");
    expect_bad(api::parse_template_body(R"({"name":"t"})", spec), "instance is required");
}
