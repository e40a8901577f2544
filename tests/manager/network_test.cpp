// Instance networking: the identity pool, and, inside a network namespace
// of the test's own (the host's network is never touched), the bridge and
// TAPs broodd makes for instances.
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "common/unique_fd.hpp"
#include "manager/host_network.hpp"
#include "manager/manager.hpp"
#include "manager/network_pool.hpp"

namespace brood::manager {
namespace {

namespace fs = std::filesystem;

TEST(NetworkPool, GivesTheLowestFreeAddressAndUniqueMacs) {
    auto subnet = Subnet::parse("10.9.0.0/29"); // hosts .1 (gateway) to .6
    ASSERT_TRUE(subnet);
    NetworkPool pool(*subnet);
    std::set<uint32_t> ips;
    std::set<MacAddress> macs;
    std::vector<NetIdentity> held;
    for (int i = 0; i < 5; ++i) {
        auto id = pool.reserve("00000000000000" + std::to_string(10 + i));
        ASSERT_TRUE(id) << id.error().message();
        EXPECT_EQ(format_ipv4(id->ip), "10.9.0." + std::to_string(2 + i));
        EXPECT_EQ(id->mac[0], 0x02) << "locally administered, unicast";
        ips.insert(id->ip);
        macs.insert(id->mac);
        held.push_back(*id);
    }
    EXPECT_EQ(ips.size(), 5u);
    EXPECT_EQ(macs.size(), 5u);
    auto full = pool.reserve("ffff000000000000");
    ASSERT_FALSE(full);
    EXPECT_NE(full.error().message().find("no address is left"), std::string::npos);
    pool.release(held[1]);
    auto again = pool.reserve("ffff000000000000");
    ASSERT_TRUE(again);
    EXPECT_EQ(format_ipv4(again->ip), "10.9.0.3") << "a released address is given out again";
}

TEST(NetworkPool, SameIdTwiceStillGetsTwoMacs) {
    NetworkPool pool(*Subnet::parse("10.9.0.0/24"));
    auto a = pool.reserve("0123456789abcdef"), b = pool.reserve("0123456789abcdef");
    ASSERT_TRUE(a && b);
    EXPECT_NE(a->mac, b->mac);
    EXPECT_EQ(a->mac, mac_for("0123456789abcdef", 0)) << "derived from the id";
}

TEST(NetworkPool, AdoptsLoadedRecordsUnlessTheyClash) {
    NetworkPool pool(*Subnet::parse("10.9.0.0/24"));
    NetIdentity a{mac_for("a", 0), *parse_ipv4("10.9.0.7")};
    EXPECT_TRUE(pool.adopt(a));
    EXPECT_FALSE(pool.adopt({mac_for("b", 0), a.ip})) << "address taken";
    EXPECT_FALSE(pool.adopt({a.mac, *parse_ipv4("10.9.0.8")})) << "MAC taken";
    EXPECT_FALSE(pool.adopt({mac_for("c", 0), *parse_ipv4("10.9.1.8")})) << "outside the subnet";
    EXPECT_FALSE(pool.adopt({mac_for("c", 0), *parse_ipv4("10.9.0.1")})) << "the gateway";
    auto next = pool.reserve("d");
    ASSERT_TRUE(next);
    EXPECT_EQ(format_ipv4(next->ip), "10.9.0.2");
}

TEST(NetworkPool, SubnetsAndAddressesAreChecked) {
    for (const char* bad : {"", "10.0.0.0", "10.0.0.0/", "10.0.0.0/31", "10.0.0.0/4", "10.0.0.1/24", "10.0.0/24",
                            "10.0.0.0/24x", "300.0.0.0/24"})
        EXPECT_FALSE(Subnet::parse(bad)) << bad;
    auto s = Subnet::parse("172.30.0.0/24");
    ASSERT_TRUE(s);
    EXPECT_EQ(format_ipv4(s->gateway()), "172.30.0.1");
    EXPECT_EQ(s->to_string(), "172.30.0.0/24");
    EXPECT_EQ(tap_name_for("0123456789abcdef"), "bt0123456789ab");
    EXPECT_LT(tap_name_for("0123456789abcdef").size(), size_t{IFNAMSIZ});
}

// Runs the test in a network namespace of its own; skips where that is
// not allowed. ctest runs each test in its own process.
bool enter_own_network_namespace() { return ::unshare(CLONE_NEWNET) == 0; }

// Whether `tap` is a port of a bridge: a second SIOCBRADDIF says EBUSY.
bool attached_to(const std::string& tap, const std::string& bridge) {
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, bridge.c_str(), IFNAMSIZ - 1);
    ifr.ifr_ifindex = static_cast<int>(::if_nametoindex(tap.c_str()));
    return ::ioctl(sock.get(), SIOCBRADDIF, &ifr) < 0 && errno == EBUSY;
}

bool is_up(const std::string& name) {
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
    return ::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
}

TEST(HostNetwork, BridgeAndTapsInAPrivateNamespace) {
    if (!enter_own_network_namespace()) GTEST_SKIP() << "cannot make a network namespace here (CAP_SYS_ADMIN)";
    uint32_t gateway = *parse_ipv4("10.77.0.1");
    ASSERT_TRUE(ensure_bridge("br-test", gateway, 24));
    ASSERT_TRUE(ensure_bridge("br-test", gateway, 24)) << "idempotent";
    EXPECT_TRUE(is_up("br-test"));
    ASSERT_TRUE(create_tap("bt-one", "br-test"));
    ASSERT_TRUE(create_tap("bt-two", "br-test"));
    EXPECT_TRUE(interface_exists("bt-one"));
    EXPECT_TRUE(is_up("bt-one"));
    EXPECT_TRUE(attached_to("bt-one", "br-test"));
    EXPECT_TRUE(attached_to("bt-two", "br-test"));
    auto twice = create_tap("bt-one", "br-test");
    ASSERT_FALSE(twice) << "a TAP name another holds is refused";
    EXPECT_TRUE(interface_exists("bt-one")) << "and the other's TAP survives the failure";
    auto no_bridge = create_tap("bt-three", "br-missing");
    ASSERT_FALSE(no_bridge);
    EXPECT_FALSE(interface_exists("bt-three")) << "nothing is left half made";
    ASSERT_TRUE(delete_tap("bt-one"));
    EXPECT_FALSE(interface_exists("bt-one"));
    EXPECT_TRUE(delete_tap("bt-one")) << "deleting a missing TAP is no error";
    ASSERT_TRUE(ensure_tap("bt-one", "br-test"));
    EXPECT_TRUE(attached_to("bt-one", "br-test"));
}

class ManagerNetwork : public ::testing::Test {
protected:
    void SetUp() override {
        if (!enter_own_network_namespace()) GTEST_SKIP() << "cannot make a network namespace here";
        char tmpl[] = "/tmp/brood-net-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root = tmpl;
        kernel = (root / "kernel").string();
        std::ofstream(kernel) << "not a kernel";
        reopen();
    }
    void reopen() {
        manager.reset();
        ManagerConfig config;
        config.data_dir = (root / "data").string();
        config.vmm_binary = "/bin/false";
        config.images_dirs = {root.string()};
        config.bridge = "br-brood";
        config.subnet = "10.78.0.0/24";
        config.fork_fault = [this](ForkStep step, const std::string&) -> Result<void> {
            if (step == fail_at) return fail("injected failure");
            return {};
        };
        auto m = Manager::open(config);
        ASSERT_TRUE(m) << m.error().message();
        manager = std::move(*m);
    }
    void TearDown() override {
        manager.reset();
        if (!root.empty()) fs::remove_all(root);
    }
    OpResult<InstanceView> create(const std::string& name, std::optional<std::string> bridge = std::string()) {
        CreateSpec spec;
        spec.name = name;
        spec.kernel = kernel;
        spec.network_bridge = std::move(bridge);
        return manager->create(spec);
    }

    fs::path root;
    std::string kernel;
    std::optional<ForkStep> fail_at;
    std::unique_ptr<Manager> manager;
};

TEST_F(ManagerNetwork, InstancesGetTheirOwnTapMacAndAddress) {
    auto a = create("a"), b = create("b");
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_TRUE(b) << b.error().message;
    const auto &ra = a->record, &rb = b->record;
    EXPECT_EQ(ra.ip, "10.78.0.2");
    EXPECT_EQ(rb.ip, "10.78.0.3");
    EXPECT_NE(ra.mac, rb.mac);
    EXPECT_NE(ra.tap, rb.tap);
    EXPECT_TRUE(is_up("br-brood"));
    for (const auto* r : {&ra, &rb}) {
        EXPECT_EQ(r->bridge, "br-brood");
        EXPECT_TRUE(interface_exists(r->tap));
        EXPECT_TRUE(attached_to(r->tap, "br-brood"));
    }
    auto plain = create("plain", std::nullopt);
    ASSERT_TRUE(plain);
    EXPECT_TRUE(plain->record.tap.empty()) << "no network asked, no NIC";
    EXPECT_TRUE(plain->record.ip.empty());

    ASSERT_TRUE(manager->remove("a"));
    EXPECT_FALSE(interface_exists(ra.tap)) << "delete removes the TAP";
    EXPECT_TRUE(interface_exists(rb.tap));
    auto c = create("c");
    ASSERT_TRUE(c);
    EXPECT_EQ(c->record.ip, "10.78.0.2") << "the deleted instance's address is free again";
}

TEST_F(ManagerNetwork, IdentitiesSurviveADaemonRestart) {
    auto a = create("a");
    ASSERT_TRUE(a);
    ManagerConfig config;
    config.data_dir = (root / "data").string();
    config.vmm_binary = "/bin/false";
    config.images_dirs = {root.string()};
    config.bridge = "br-brood";
    config.subnet = "10.78.0.0/24";
    manager.reset();
    auto m = Manager::open(config);
    ASSERT_TRUE(m);
    manager = std::move(*m);
    auto again = manager->get("a");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->record.ip, a->record.ip);
    EXPECT_EQ(again->record.mac, a->record.mac);
    auto b = create("b");
    ASSERT_TRUE(b);
    EXPECT_NE(b->record.ip, a->record.ip) << "a loaded record's address stays held";
}

TEST_F(ManagerNetwork, AForkGetsItsOwnTapMacAndAddress) {
    auto a = create("a");
    ASSERT_TRUE(a);
    // Make the source Stopped on disk (as after a stop), so it can be forked
    // without a VMM.
    auto path = (root / "data/guests" / a->record.id / "metadata.json").string();
    auto r = load_record(path);
    ASSERT_TRUE(r);
    r->state = State::stopped;
    ASSERT_TRUE(save_record(path, *r));
    reopen();
    ForkRequest request;
    request.names = {"a-copy"};
    request.target_state = State::stopped;
    auto forked = manager->fork_instance("a", request);
    ASSERT_TRUE(forked) << forked.error().message;
    ASSERT_EQ(forked->instances.size(), 1u) << (forked->errors.empty() ? "" : forked->errors[0].error.message);
    const auto& f = forked->instances[0].record;
    EXPECT_NE(f.mac, a->record.mac);
    EXPECT_NE(f.ip, a->record.ip);
    EXPECT_NE(f.tap, a->record.tap);
    EXPECT_EQ(f.bridge, "br-brood");
    EXPECT_TRUE(attached_to(f.tap, "br-brood"));
    auto stored = manager->get("a-copy");
    ASSERT_TRUE(stored);
    EXPECT_EQ(stored->record.mac, f.mac) << "the instance the daemon keeps carries the NIC";

    // A fork that fails after its TAP was made leaves no TAP and no address.
    fail_at = ForkStep::publish;
    request.names = {"a-lost"};
    auto failed = manager->fork_instance("a", request);
    ASSERT_TRUE(failed);
    ASSERT_EQ(failed->errors.size(), 1u);
    fail_at.reset();
    request.names = {"a-next"};
    auto next = manager->fork_instance("a", request);
    ASSERT_TRUE(next && next->instances.size() == 1u);
    uint32_t ip_a = *parse_ipv4(a->record.ip), ip_copy = *parse_ipv4(f.ip);
    EXPECT_EQ(*parse_ipv4(next->instances[0].record.ip), std::max(ip_a, ip_copy) + 1)
        << "the failed fork's address was given back";
    ASSERT_TRUE(manager->remove("a-copy"));
    EXPECT_FALSE(interface_exists(f.tap));
}

TEST_F(ManagerNetwork, AnotherBridgeIsRefusedAndLeavesNothing) {
    auto bad = create("x", std::string("br-other"));
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().kind, ErrorKind::bad_request);
    EXPECT_NE(bad.error().message.find("br-brood"), std::string::npos);
    EXPECT_FALSE(manager->get("x")) << "no instance";
    auto ok = create("x");
    ASSERT_TRUE(ok) << "the name and address were given back";
    EXPECT_EQ(ok->record.ip, "10.78.0.2");
}

} // namespace
} // namespace brood::manager
