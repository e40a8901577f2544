// Admission control: the limits, what an instance costs, and reservations
// held by requests in flight.
#include <gtest/gtest.h>

#include "manager/admission.hpp"

using namespace brood::manager;

namespace {

AdmissionLimits limits(uint64_t instances, uint64_t budget, double overcommit = 4.0) {
    return AdmissionLimits{instances, budget, overcommit};
}

TEST(Admission, TemplateForksCostTheirMemoryDividedByTheOvercommit) {
    EXPECT_DOUBLE_EQ(memory_cost_mib(512, false, 4.0), 512.0);
    EXPECT_DOUBLE_EQ(memory_cost_mib(512, true, 4.0), 128.0);
    EXPECT_DOUBLE_EQ(memory_cost_mib(512, true, 1.0), 512.0);
    EXPECT_DOUBLE_EQ(memory_cost_mib(100, true, 8.0), 12.5);
}

TEST(Admission, RefusalsNameTheNumbers) {
    auto l = limits(3, 1000);
    EXPECT_TRUE(check_admission(l, {2, 500}, {1, 500}));
    auto many = check_admission(l, {2, 100}, {2, 100});
    ASSERT_FALSE(many);
    EXPECT_EQ(many.error().kind, ErrorKind::conflict);
    EXPECT_EQ(many.error().code, "too_many_instances");
    EXPECT_NE(many.error().message.find("2 new instances requested, 2 exist, the limit is 3"), std::string::npos)
        << many.error().message;
    auto big = check_admission(l, {1, 600}, {1, 512});
    ASSERT_FALSE(big);
    EXPECT_EQ(big.error().code, "over_budget");
    EXPECT_NE(big.error().message.find("512 MiB of guest memory requested for 1 instance, 600 MiB in use, the memory "
                                       "budget is 1000 MiB"),
              std::string::npos)
        << big.error().message;
}

TEST(Admission, PendingRequestsCountUntilTheirTicketGoes) {
    Admission admission(limits(10, 1000));
    auto nothing = [] { return Usage{}; };
    {
        auto first = admission.admit(nothing, {2, 800});
        ASSERT_TRUE(first);
        auto second = admission.admit(nothing, {1, 256});
        ASSERT_FALSE(second) << "the first request's 800 MiB are still reserved";
        EXPECT_EQ(second.error().code, "over_budget");
        EXPECT_TRUE(admission.admit(nothing, {1, 200}));
    }
    EXPECT_TRUE(admission.admit(nothing, {1, 1000})) << "released tickets give their room back";
    EXPECT_TRUE(admission.admit([] { return Usage{9, 0}; }, {1, 0}));
    EXPECT_FALSE(admission.admit([] { return Usage{10, 0}; }, {1, 0}));
}

TEST(Admission, DefaultBudgetLeavesTheHostAReserve) {
    auto budget = default_memory_budget_mib();
    ASSERT_TRUE(budget);
    EXPECT_GT(*budget, 0u);
}

} // namespace
