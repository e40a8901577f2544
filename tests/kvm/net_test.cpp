// The test guest drives the virtio-net queues: frames it sends come out of
// the backend, frames written into the backend reach it, before and after
// a snapshot restored with another backend and MAC. The backend is a
// SOCK_SEQPACKET pair handed over with --net fd=N (one frame per read and
// write, as a TAP), so no privileges or host network are needed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include <numeric>

#include "kvm_fixture.hpp"
#include "snapshot_helpers.hpp"

namespace brood::test {
namespace {

// One end for the VMM (inherited: no CLOEXEC), one for the test.
struct Wire {
    UniqueFd vmm, test;
    Wire() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds), 0);
        // Above the fds the harness sets up in the child (its ready fd is 3).
        vmm.reset(::fcntl(fds[0], F_DUPFD, 64));
        ::close(fds[0]);
        test.reset(fds[1]);
        ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    }
    std::string arg(const std::string& mac) const { return "fd=" + std::to_string(vmm.get()) + ",mac=" + mac; }
    // The next frame, or empty after `timeout_ms`.
    std::vector<uint8_t> read_frame(int timeout_ms = 20'000) const {
        pollfd p{test.get(), POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) != 1) return {};
        std::vector<uint8_t> f(70'000);
        ssize_t n = ::read(test.get(), f.data(), f.size());
        f.resize(n < 0 ? 0 : static_cast<size_t>(n));
        return f;
    }
};

std::vector<uint8_t> frame_from(const std::vector<uint8_t>& src_mac, size_t payload, uint8_t first) {
    std::vector<uint8_t> f(14 + payload);
    std::fill(f.begin(), f.begin() + 6, 0xff);
    std::copy(src_mac.begin(), src_mac.end(), f.begin() + 6);
    f[12] = 0x88, f[13] = 0xb5;
    std::iota(f.begin() + 14, f.end(), first);
    return f;
}

std::string expected_rx(const std::vector<uint8_t>& f) {
    uint64_t sum = 0;
    for (size_t i = 14; i < f.size(); ++i) sum += f[i];
    return "nrx len=" + std::to_string(f.size()) + " src=0a:00:00:00:00:01 type=34997 sum=" + std::to_string(sum);
}

class NetTest : public KvmTest {};

TEST_F(NetTest, GuestSendsAndReceivesFrames) {
    Wire wire;
    auto vm = boot_guest(64, 1, subdir("vm"), {"--net", wire.arg("02:00:00:00:00:42")});
    wire.vmm.reset(); // the VMM holds its own copy
    EXPECT_EQ(ask(vm, "net", "net "), "net mac=02:00:00:00:00:42");
    EXPECT_EQ(ask(vm, "ntx 100 7", "ntx"), "ntx ok");
    auto sent = wire.read_frame();
    ASSERT_EQ(sent.size(), 114u) << "the frame without the virtio-net header";
    EXPECT_EQ(sent[0], 0xff);
    EXPECT_EQ(std::vector<uint8_t>(sent.begin() + 6, sent.begin() + 12),
              (std::vector<uint8_t>{0x02, 0, 0, 0, 0, 0x42}));
    EXPECT_EQ(sent[14], 7);
    EXPECT_EQ(sent[113], 106);

    auto in = frame_from({0x0a, 0, 0, 0, 0, 1}, 46, 3);
    ASSERT_EQ(::write(wire.test.get(), in.data(), in.size()), static_cast<ssize_t>(in.size()));
    EXPECT_EQ(ask(vm, "nrx", "nrx"), expected_rx(in));
    // A frame the guest's buffer cannot hold is dropped; the next one arrives.
    std::vector<uint8_t> huge(4000, 1);
    ASSERT_EQ(::write(wire.test.get(), huge.data(), huge.size()), 4000);
    auto next = frame_from({0x0a, 0, 0, 0, 0, 1}, 200, 9);
    ASSERT_EQ(::write(wire.test.get(), next.data(), next.size()), static_cast<ssize_t>(next.size()));
    EXPECT_EQ(ask(vm, "nrx", "nrx"), "nrx short") << "the dropped frame's buffer comes back empty";
    EXPECT_EQ(ask(vm, "nrx", "nrx"), expected_rx(next));
    EXPECT_EQ(ask(vm, "ping", "pong"), "pong");
}

TEST_F(NetTest, ARestoredNicUsesItsNewBackendAndMac) {
    Wire before;
    {
        auto vm = boot_guest(64, 1, subdir("vm"), {"--net", before.arg("02:00:00:00:00:01")});
        before.vmm.reset();
        EXPECT_EQ(ask(vm, "net", "net "), "net mac=02:00:00:00:00:01");
        EXPECT_EQ(ask(vm, "ntx 10 1", "ntx"), "ntx ok");
        EXPECT_EQ(before.read_frame().size(), 24u);
        auto taken = take_snapshot(vm, path("state"), path("memory"));
        ASSERT_TRUE(taken) << taken.error().message();
        vm.kill_now();
    }
    // Without --net the restore is refused: the snapshot has a NIC.
    auto refused = restore(path("state"), path("memory"), "file", subdir("refused"));
    EXPECT_FALSE(refused);

    Wire after;
    auto restored = restore(path("state"), path("memory"), "file", subdir("restored"),
                            {"--net", after.arg("02:00:00:00:00:02")});
    ASSERT_TRUE(restored) << restored.error().message();
    after.vmm.reset();
    // The guest carries on with its queues; its frames go to the new backend.
    EXPECT_EQ(ask(*restored, "ntx 20 5", "ntx"), "ntx ok");
    EXPECT_EQ(after.read_frame().size(), 34u);
    EXPECT_TRUE(before.read_frame(200).empty()) << "nothing reaches the old backend";
    auto in = frame_from({0x0a, 0, 0, 0, 0, 1}, 50, 4);
    ASSERT_EQ(::write(after.test.get(), in.data(), in.size()), static_cast<ssize_t>(in.size()));
    EXPECT_EQ(ask(*restored, "nrx", "nrx"), expected_rx(in));
    // A driver that probes again reads the new MAC from config space.
    EXPECT_EQ(ask(*restored, "net", "net "), "net mac=02:00:00:00:00:02");
}

// A persistent TAP, up, in a network namespace of the test's own (ctest
// runs each test in its own process; the namespace ends with it), and a
// packet socket on it: what the guest sends arrives there, what is sent
// there reaches the guest.
class TapWire {
public:
    static constexpr const char* kName = "bn-test0";

    bool open() {
        if (::unshare(CLONE_NEWNET) != 0) return false;
        // No IPv6 chatter (router solicitations) towards the guest: only
        // the test's frames. /proc/sys/net is this namespace's.
        std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1";
        UniqueFd tun(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, kName, IFNAMSIZ - 1);
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
        if (!tun || ::ioctl(tun.get(), TUNSETIFF, &ifr) != 0 || ::ioctl(tun.get(), TUNSETPERSIST, 1) != 0)
            return false;
        UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) return false;
        ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
        if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) return false;
        _packets.reset(::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(0x88b5)));
        sockaddr_ll addr{};
        addr.sll_family = AF_PACKET;
        addr.sll_protocol = htons(0x88b5);
        addr.sll_ifindex = static_cast<int>(::if_nametoindex(kName));
        _ifindex = addr.sll_ifindex;
        return _packets && ::bind(_packets.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    }
    std::vector<uint8_t> read_frame(int timeout_ms = 20'000) const {
        pollfd p{_packets.get(), POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) != 1) return {};
        std::vector<uint8_t> f(2'000);
        ssize_t n = ::recv(_packets.get(), f.data(), f.size(), 0);
        f.resize(n < 0 ? 0 : static_cast<size_t>(n));
        return f;
    }
    bool send(const std::vector<uint8_t>& frame) const {
        sockaddr_ll addr{};
        addr.sll_family = AF_PACKET;
        addr.sll_ifindex = _ifindex;
        addr.sll_halen = 6;
        std::memcpy(addr.sll_addr, frame.data(), 6);
        return ::sendto(_packets.get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&addr),
                        sizeof(addr)) == static_cast<ssize_t>(frame.size());
    }

private:
    UniqueFd _packets;
    int _ifindex = 0;
};

TEST_F(NetTest, GuestFramesCrossARealTap) {
    TapWire tap;
    if (!tap.open()) GTEST_SKIP() << "no TAP in a private network namespace here (needs CAP_NET_ADMIN)";
    auto vm = boot_guest(64, 1, subdir("vm"), {"--net", std::string("tap=") + TapWire::kName + ",mac=02:00:00:00:00:07"});
    EXPECT_EQ(ask(vm, "net", "net "), "net mac=02:00:00:00:00:07");
    EXPECT_EQ(ask(vm, "ntx 60 2", "ntx"), "ntx ok");
    auto sent = tap.read_frame();
    ASSERT_EQ(sent.size(), 74u);
    EXPECT_EQ(sent[11], 0x07) << "from the guest's MAC";
    EXPECT_EQ(sent[14], 2);
    auto in = frame_from({0x0a, 0, 0, 0, 0, 1}, 64, 5);
    ASSERT_TRUE(tap.send(in));
    EXPECT_EQ(ask(vm, "nrx", "nrx"), expected_rx(in));
}

} // namespace
} // namespace brood::test
