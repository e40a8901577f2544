// A gtest fixture with one running broodd; skips without /dev/kvm.
#pragma once

#include <gtest/gtest.h>

#include "daemon.hpp"

namespace brood::testing {

class Broodd : public ::testing::Test {
protected:
    void SetUp() override {
        if (!have_kvm()) GTEST_SKIP() << "needs /dev/kvm (read-write) to run brood-vmm";
        daemon.start();
    }

    // Creates, starts and waits for the guest; returns the id.
    std::string running(const std::string& name) {
        std::string id = daemon.create(name).value("id", "");
        auto r = daemon.call("POST", "/instances/" + id + "/start");
        EXPECT_EQ(r.status, 200) << r.text;
        EXPECT_EQ(r.body.value("state", ""), "Running");
        EXPECT_TRUE(daemon.wait_guest_ready(id)) << "guest never printed its ready line";
        return id;
    }
    std::string state_of(const std::string& ref) {
        return daemon.call("GET", "/instances/" + ref).body.value("state", "?");
    }

    Daemon daemon;
};

} // namespace brood::testing
