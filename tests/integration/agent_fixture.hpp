// broodd with instances of the test guest whose "guest agent" is brood-agent
// on the host, reached through a stand-in vsock device (support/host_agent.hpp).
#pragma once

#include <memory>

#include "fixture.hpp"
#include "support/host_agent.hpp"

namespace brood::testing {

class AgentDaemon : public ::testing::Test {
protected:
    void SetUp() override {
        if (!have_kvm()) GTEST_SKIP() << "needs /dev/kvm (read-write) to run brood-vmm";
        daemon.start({"--agent-connect-timeout-ms", "1500"});
        agent = std::make_unique<test::HostAgent>(daemon.dir(), true);
        bridge = std::make_unique<test::VsockBridge>(agent->socket());
    }
    void TearDown() override {
        bridge.reset();
        agent.reset();
    }

    // Creates and starts the test guest (with "agent": true); returns its id.
    std::string running(const std::string& name) {
        Reply created = daemon.call("POST", "/instances", {{"name", name}, {"kernel", guest_kernel()}, {"agent", true}});
        EXPECT_EQ(created.status, 201) << created.text;
        std::string id = created.body.value("id", "");
        Reply started = daemon.call("POST", "/instances/" + id + "/start");
        EXPECT_EQ(started.status, 200) << started.text;
        EXPECT_TRUE(daemon.wait_guest_ready(id));
        return id;
    }
    std::string vsock_of(const std::string& id) const { return daemon.guests_dir() + "/" + id + "/vsock.sock"; }
    // A running instance whose vsock device leads to the host agent.
    std::string with_agent(const std::string& name) {
        std::string id = running(name);
        bridge->serve(vsock_of(id));
        return id;
    }
    Reply exec(const std::string& ref, const nlohmann::json& body) {
        return daemon.call("POST", "/instances/" + ref + "/exec", body);
    }

    Daemon daemon;
    std::unique_ptr<test::HostAgent> agent;
    std::unique_ptr<test::VsockBridge> bridge;
};

} // namespace brood::testing
