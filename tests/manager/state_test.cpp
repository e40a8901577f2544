#include <gtest/gtest.h>

#include "manager/instance_state.hpp"
#include "manager/names.hpp"
#include "manager/op_error.hpp"

using namespace brood::manager;

TEST(InstanceState, LiveVmmWinsOverTheRecord) {
    Facts live{true, false, false};
    Facts paused{true, true, false};
    for (State s : {State::created, State::running, State::standby, State::stopped, State::failed}) {
        EXPECT_EQ(derive_state(s, live), State::running);
        EXPECT_EQ(derive_state(s, paused), State::paused);
    }
}

TEST(InstanceState, WithoutVmmRunningIsFailedAndStandbyNeedsItsSnapshot) {
    Facts dead{false, false, false};
    Facts dead_with_snapshot{false, false, true};
    EXPECT_EQ(derive_state(State::running, dead), State::failed);
    EXPECT_EQ(derive_state(State::paused, dead_with_snapshot), State::failed);
    EXPECT_EQ(derive_state(State::standby, dead_with_snapshot), State::standby);
    EXPECT_EQ(derive_state(State::standby, dead), State::failed);
    EXPECT_EQ(derive_state(State::created, dead), State::created);
    EXPECT_EQ(derive_state(State::stopped, dead_with_snapshot), State::stopped);
    EXPECT_EQ(derive_state(State::failed, dead), State::failed);
}

TEST(InstanceState, NamesRoundTrip) {
    for (State s : {State::created, State::running, State::paused, State::standby, State::stopped, State::failed})
        EXPECT_EQ(state_from_string(to_string(s)), s);
    EXPECT_FALSE(state_from_string("running")) << "state names are capitalised";
}

TEST(Names, ValidNames) {
    for (const char* ok : {"a", "web-1", "0", "a1-b2-c3", "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij123"})
        EXPECT_TRUE(valid_name(ok)) << ok;
    for (const char* bad : {"", "-a", "a-", "A", "a_b", "a.b", "a b", "a/b", "..", "é",
                            "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij1234"})
        EXPECT_FALSE(valid_name(bad)) << bad;
}

TEST(Names, IdsAreUniqueHex) {
    std::string a = new_id(), b = new_id();
    EXPECT_NE(a, b);
    EXPECT_TRUE(looks_like_id(a));
    EXPECT_FALSE(looks_like_id("web-1"));
}

TEST(OpError, ErrorsBecomeInternal) {
    OpResult<int> r = [&]() -> OpResult<int> {
        brood::Result<int> failing = brood::fail("disk on fire", EIO);
        int v = TRY(failing);
        return v;
    }();
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::internal);
    EXPECT_EQ(r.error().code, "internal");
    EXPECT_EQ(r.error().message, "disk on fire");
    auto conflict = wrong_state("no");
    EXPECT_EQ(conflict.value().kind, ErrorKind::conflict);
    EXPECT_EQ(conflict.value().code, "wrong_state");
}
