// Debian's kernel on virtio-net through broodd: forks of one template each
// get their own MAC and IPv4 address before they are reported Running, and
// reach each other across the daemon's bridge.
#include <cstdlib>
#include <memory>
#include <set>

#include "daemon.hpp"
#include "linux_guest.hpp"

namespace brood::test {
namespace {

using nlohmann::json;

constexpr int kForks = 3;

class LinuxNetwork : public ::testing::Test {
protected:
    static void TearDownTestSuite() { daemon.reset(); }
    void SetUp() override {
        BROOD_REQUIRE_LINUX_SHELL();
        if (!daemon) {
            daemon = std::make_unique<brood::testing::Daemon>();
            daemon->start({"--bridge", "brlane0", "--subnet", "10.77.0.0/24"});
        }
    }
    static json exec(const std::string& ref, const std::string& script) {
        auto r = daemon->call("POST", "/instances/" + ref + "/exec",
                              {{"cmd", {"/bin/sh", "-c", script}}, {"timeout_ms", 60'000}});
        EXPECT_EQ(r.status, 200) << ref << ": " << r.text;
        return r.status == 200 ? r.body : json::object();
    }
    static std::string out(const json& answer) {
        std::string s = answer.value("stdout", "");
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
        return s;
    }
    static inline std::unique_ptr<brood::testing::Daemon> daemon;
};

TEST_F(LinuxNetwork, ForksGetTheirOwnMacAndIpAndPingEachOther) {
    auto r = daemon->call("POST", "/instances",
                          {{"name", "net"},
                           {"kernel", asset("vmlinux")},
                           {"initrd", std::string(std::getenv("BROOD_GUEST_IMAGES") ? std::getenv("BROOD_GUEST_IMAGES")
                                                                                      : BROOD_GUEST_IMAGES_DEFAULT) +
                                          "/initrd-agent.cpio.gz"},
                           {"cmdline", kLinuxCmdline},
                           {"memory_mib", 256},
                           {"agent", true},
                           {"network", json::object()}});
    ASSERT_EQ(r.status, 201) << r.text;
    ASSERT_EQ(daemon->call("POST", "/instances/net/start").status, 200);
    ASSERT_TRUE(daemon->wait_guest_ready("net", 0, 120'000, "brood-initrd ready", kBootQuietLimitMs))
        << daemon->call("GET", "/instances/net/logs").text;
    EXPECT_EQ(out(exec("net", "ls /sys/class/net | grep -c eth")), "1") << "no virtio-net interface in the guest";
    ASSERT_EQ(daemon->call("POST", "/instances/net/standby").status, 200);
    ASSERT_EQ(daemon->call("POST", "/templates", {{"instance", "net"}, {"name", "net-tpl"}}).status, 201);
    auto fan = daemon->call("POST", "/templates/net-tpl/fork", {{"name_prefix", "nf"}, {"count", kForks}});
    ASSERT_EQ(fan.status, 201) << fan.text;
    std::set<std::string> macs, ips;
    std::vector<std::string> fork_ips;
    for (const auto& fork : fan.body["instances"]) {
        const std::string name = fork["name"], mac = fork.value("mac", ""), ip = fork.value("ip", "");
        macs.insert(mac);
        ips.insert(ip);
        fork_ips.push_back(ip);
        // The guest's interface carries what the API says, from the first exec on.
        EXPECT_EQ(out(exec(name, "cat /sys/class/net/eth0/address")), mac) << name;
        EXPECT_NE(out(exec(name, "ip -4 -o addr show dev eth0")).find(" " + ip + "/"), std::string::npos) << name;
    }
    EXPECT_EQ(macs.size(), static_cast<size_t>(kForks)) << "two forks share a MAC";
    EXPECT_EQ(ips.size(), static_cast<size_t>(kForks)) << "two forks share an IP";
    for (int i = 0; i < kForks; ++i) {
        const std::string from = "nf-" + std::to_string(i + 1), to = fork_ips[(i + 1) % kForks];
        auto ping = exec(from, "ping -c 2 -W 5 " + to);
        EXPECT_EQ(ping.value("exit_code", -1), 0) << from << " cannot reach " << to << ": " << ping.dump();
    }
    for (int i = 1; i <= kForks; ++i) daemon->call("DELETE", "/instances/nf-" + std::to_string(i));
    daemon->call("DELETE", "/templates/net-tpl");
    EXPECT_EQ(daemon->call("DELETE", "/instances/net").status, 204);
}

} // namespace
} // namespace brood::test
