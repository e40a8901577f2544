// broodd --crash-at: every fork and VMM step has a name that parses back to
// it, and anything else is refused with the list of names.
#include <gtest/gtest.h>

#include "manager/crash_point.hpp"
#include "manager/manager.hpp"

using namespace brood::manager;

TEST(CrashPoint, EveryStepParsesBackToItself) {
    for (ForkStep step : kForkSteps) {
        auto point = parse_crash_point("fork:" + std::string(to_string(step)));
        ASSERT_TRUE(point) << point.error().message();
        EXPECT_EQ(std::get<ForkStep>(*point), step);
        EXPECT_EQ(to_string(*point), "fork:" + std::string(to_string(step)));
    }
    auto reseed = parse_crash_point("fork:reseed");
    ASSERT_TRUE(reseed);
    EXPECT_EQ(std::get<ForkStep>(*reseed), ForkStep::reseed);
    for (VmmStep step : kVmmSteps) {
        auto point = parse_crash_point("vmm:" + std::string(to_string(step)));
        ASSERT_TRUE(point) << point.error().message();
        EXPECT_EQ(std::get<VmmStep>(*point), step);
    }
}

TEST(CrashPoint, AnythingElseIsRefusedWithTheNames) {
    for (const char* bad : {"", "fork", "fork:", "fork:nope", "vmm:publish", "publish", "disk:boot", ":boot",
                            "fork:publish ", "FORK:publish"}) {
        auto point = parse_crash_point(bad);
        EXPECT_FALSE(point) << bad;
    }
    EXPECT_NE(parse_crash_point("fork:nope").error().message().find("publish"), std::string::npos);
    EXPECT_NE(parse_crash_point("vmm:nope").error().message().find("standby_snapshot"), std::string::npos);
}

TEST(CrashPoint, OnlyTheChosenStepsHookIsSet) {
    ManagerConfig config;
    crash_at(config, ForkStep::publish);
    EXPECT_TRUE(config.fork_fault);
    EXPECT_FALSE(config.vmm_fault);
    // Other steps pass through the hook untouched.
    EXPECT_TRUE(config.fork_fault(ForkStep::copy_dir, "f"));
    EXPECT_TRUE(config.fork_fault(ForkStep::register_fork, "f"));

    ManagerConfig other;
    crash_at(other, VmmStep::ready);
    EXPECT_FALSE(other.fork_fault);
    ASSERT_TRUE(other.vmm_fault);
    other.vmm_fault(VmmStep::spawned, "i", 1); // returns: not the chosen step
}

TEST(CrashPointDeathTest, TheChosenStepEndsTheProcessWithSigkill) {
    ManagerConfig config;
    crash_at(config, ForkStep::publish);
    EXPECT_EXIT((void)config.fork_fault(ForkStep::publish, "f"), ::testing::KilledBySignal(SIGKILL), "");
    ManagerConfig vmm;
    crash_at(vmm, VmmStep::standby_install);
    EXPECT_EXIT(vmm.vmm_fault(VmmStep::standby_install, "i", 1), ::testing::KilledBySignal(SIGKILL), "");
}
