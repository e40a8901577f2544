// parse_fork_request: every rule of a fork request, as a pure function.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "manager/fork_request.hpp"

using namespace brood::manager;
using nlohmann::json;

namespace {

OpResult<ForkRequest> instance(const json& body) { return parse_fork_request(body, ForkSource::instance); }
OpResult<ForkRequest> from_template(const json& body) { return parse_fork_request(body, ForkSource::template_); }

// The request is refused with 400 and a message that mentions `word`.
void expect_bad(const OpResult<ForkRequest>& r, const std::string& word) {
    ASSERT_FALSE(r) << "accepted";
    EXPECT_EQ(r.error().kind, ErrorKind::bad_request);
    EXPECT_EQ(r.error().code, "bad_request");
    EXPECT_NE(r.error().message.find(word), std::string::npos) << r.error().message;
}

} // namespace

TEST(ForkRequest, InstanceForkNeedsOneValidName) {
    auto r = instance({{"name", "copy-1"}});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->names, std::vector<std::string>{"copy-1"});
    EXPECT_FALSE(r->target_state) << "the default (the source's state) is decided by the manager";
    EXPECT_FALSE(r->from_running);
    EXPECT_FALSE(r->concurrency);
    expect_bad(instance(json::object()), "name");
    expect_bad(instance({{"name", 7}}), "name");
    expect_bad(instance({{"name", "Bad_Name"}}), "invalid name");
    expect_bad(instance({{"name", ""}}), "invalid name");
    expect_bad(instance({{"name", std::string(64, 'a')}}), "invalid name");
    expect_bad(instance({{"name", "-x"}}), "invalid name");
    expect_bad(instance({{"name", "0123456789abcdef"}}), "looks like an instance id");
}

TEST(ForkRequest, InstanceForkRefusesFanOutAndUnknownFields) {
    expect_bad(instance({{"name", "a"}, {"count", 2}}), "unknown field \"count\"");
    expect_bad(instance({{"name_prefix", "a"}, {"count", 2}}), "unknown field");
    expect_bad(instance({{"name", "a"}, {"concurrency", 2}}), "unknown field \"concurrency\"");
    expect_bad(instance({{"name", "a"}, {"color", "red"}}), "unknown field \"color\"");
    expect_bad(instance(json::array()), "object");
    expect_bad(instance("name"), "object");
}

TEST(ForkRequest, TargetStateIsRunningStandbyOrStoppedInAnyCase) {
    for (const auto& [text, state] : std::vector<std::pair<std::string, State>>{
             {"running", State::running}, {"Running", State::running}, {"RUNNING", State::running},
             {"standby", State::standby}, {"Standby", State::standby}, {"stopped", State::stopped},
             {"Stopped", State::stopped}}) {
        auto r = instance({{"name", "a"}, {"target_state", text}});
        ASSERT_TRUE(r) << text << ": " << r.error().message;
        EXPECT_EQ(r->target_state, state) << text;
        auto t = from_template({{"name", "a"}, {"target_state", text}});
        ASSERT_TRUE(t) << text;
        EXPECT_EQ(t->target_state, state) << text;
    }
    for (const char* bad : {"paused", "Paused", "created", "failed", "", "run", "running "})
        expect_bad(instance({{"name", "a"}, {"target_state", bad}}), "target_state");
    expect_bad(instance({{"name", "a"}, {"target_state", 1}}), "target_state must be a string");
    expect_bad(instance({{"name", "a"}, {"target_state", nullptr}}), "target_state");
}

TEST(ForkRequest, FromRunningIsABoolean) {
    auto r = instance({{"name", "a"}, {"from_running", true}});
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->from_running);
    r = instance({{"name", "a"}, {"from_running", false}});
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->from_running);
    expect_bad(instance({{"name", "a"}, {"from_running", "yes"}}), "from_running");
    expect_bad(instance({{"name", "a"}, {"from_running", 1}}), "from_running");
    expect_bad(from_template({{"name", "a"}, {"from_running", true}}), "unknown field \"from_running\"");
}

TEST(ForkRequest, TemplateForkTakesNameOrPrefixAndCount) {
    auto one = from_template({{"name", "web"}});
    ASSERT_TRUE(one) << one.error().message;
    EXPECT_EQ(one->names, std::vector<std::string>{"web"});
    auto many = from_template({{"name_prefix", "web"}, {"count", 3}, {"target_state", "standby"}});
    ASSERT_TRUE(many) << many.error().message;
    EXPECT_EQ(many->names, (std::vector<std::string>{"web-1", "web-2", "web-3"}));
    EXPECT_EQ(many->target_state, State::standby);
    expect_bad(from_template(json::object()), "either name, or name_prefix and count");
    expect_bad(from_template({{"name", "a"}, {"name_prefix", "b"}, {"count", 2}}), "either name");
    expect_bad(from_template({{"name", "a"}, {"count", 2}}), "count goes with name_prefix");
    expect_bad(from_template({{"name_prefix", "web"}}), "name_prefix needs count");
    expect_bad(from_template({{"count", 2}}), "either name");
    expect_bad(from_template({{"name_prefix", 5}, {"count", 2}}), "name_prefix must be a string");
}

TEST(ForkRequest, CountBounds) {
    auto lowest = from_template({{"name_prefix", "w"}, {"count", 1}});
    ASSERT_TRUE(lowest);
    EXPECT_EQ(lowest->names, std::vector<std::string>{"w-1"});
    auto highest = from_template({{"name_prefix", "w"}, {"count", kMaxForkCount}});
    ASSERT_TRUE(highest);
    EXPECT_EQ(highest->names.size(), static_cast<size_t>(kMaxForkCount));
    EXPECT_EQ(highest->names.back(), "w-1000");
    for (const json& bad : {json(0), json(-1), json(kMaxForkCount + 1), json(2.5), json("3"), json(nullptr),
                            json(18446744073709551615ull)})
        expect_bad(from_template({{"name_prefix", "w"}, {"count", bad}}), "count must be an integer from 1 to 1000");
}

TEST(ForkRequest, PrefixMustMakeValidNames) {
    expect_bad(from_template({{"name_prefix", "Web"}, {"count", 2}}), "invalid name \"Web-2\"");
    expect_bad(from_template({{"name_prefix", ""}, {"count", 2}}), "invalid name");
    // 58 characters + "-1000" is 63: fine; one more is too long.
    EXPECT_TRUE(from_template({{"name_prefix", std::string(58, 'a')}, {"count", 1000}}));
    expect_bad(from_template({{"name_prefix", std::string(59, 'a')}, {"count", 1000}}), "invalid name");
    EXPECT_TRUE(from_template({{"name_prefix", std::string(59, 'a')}, {"count", 999}}));
}

TEST(ForkRequest, ConcurrencyBounds) {
    auto r = from_template({{"name_prefix", "w"}, {"count", 4}, {"concurrency", 2}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->concurrency, 2);
    EXPECT_TRUE(from_template({{"name", "w"}, {"concurrency", kMaxForkConcurrency}}));
    for (const json& bad : {json(0), json(kMaxForkConcurrency + 1), json(-3), json("2"), json(1.5)})
        expect_bad(from_template({{"name", "w"}, {"concurrency", bad}}), "concurrency must be an integer");
}

TEST(ForkRequest, StreamIsABooleanForTemplateForksOnly) {
    auto plain = from_template({{"name", "w"}});
    ASSERT_TRUE(plain);
    EXPECT_FALSE(plain->stream);
    auto streamed = from_template({{"name_prefix", "w"}, {"count", 3}, {"stream", true}});
    ASSERT_TRUE(streamed);
    EXPECT_TRUE(streamed->stream);
    for (const json& bad : {json(1), json("true"), json(nullptr), json::array()})
        expect_bad(from_template({{"name", "w"}, {"stream", bad}}), "stream must be a boolean");
    expect_bad(instance({{"name", "a"}, {"stream", true}}), "unknown field \"stream\"");
}
