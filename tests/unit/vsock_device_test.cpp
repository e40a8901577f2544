// The virtio-vsock device over real split queues in pretend guest RAM, laid
// out as Linux's driver lays them out (header and payload in separate
// descriptors), with the transport faked: handshake, data, the transport
// reset after a pause or restore, and hostile chains.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <map>

#include "vmm/virtio/vsock_device.hpp"

namespace brood::virtio {
namespace {

using vsock::Header;
using vsock::Op;

constexpr uint16_t kSize = 16;
constexpr uint64_t kRxBuffers = 0x200000, kTxBuffers = 0x300000, kEventBuffers = 0x400000;
constexpr uint16_t kWrite = 2, kNext = 1;

uint64_t ring_base(uint16_t q) { return 0x10000 + 0x10000ULL * q; }

class FakeContext final : public DeviceContext {
public:
    FakeContext() : _memory(*GuestMemory::anonymous(16 << 20)) {
        for (uint16_t i = 0; i < 3; ++i) {
            _queues.emplace_back(_memory, kSize);
            QueueState s;
            s.size = kSize;
            s.ready = true;
            s.desc_addr = ring_base(i);
            s.avail_addr = ring_base(i) + 0x1000;
            s.used_addr = ring_base(i) + 0x2000;
            _queues[i].state() = s;
        }
    }
    GuestMemory& memory() override { return _memory; }
    Queue& queue(uint16_t index) override { return _queues[index]; }
    void signal_used(uint16_t index) override { ++signals[index]; }
    void kick(uint16_t index) override { kicked.push_back(index); }
    Result<void> watch_fd(int fd, uint32_t, std::function<void(uint32_t)> cb) override {
        watches[fd] = std::move(cb);
        return {};
    }
    void unwatch_fd(int fd) override { watches.erase(fd); }

    // The driver side.
    void desc(uint16_t q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
        struct {
            uint64_t addr;
            uint32_t len;
            uint16_t flags, next;
        } d{addr, len, flags, next};
        ASSERT_TRUE(_memory.write_obj(ring_base(q) + 16ULL * i, d));
    }
    void make_available(uint16_t q, uint16_t head) {
        uint16_t& idx = _avail[q];
        ASSERT_TRUE(_memory.write_obj(ring_base(q) + 0x1000 + 4 + 2ULL * (idx % kSize), head));
        ++idx;
        ASSERT_TRUE(_memory.write_obj(ring_base(q) + 0x1000 + 2, idx));
    }
    uint16_t used_idx(uint16_t q) { return read<uint16_t>(ring_base(q) + 0x2000 + 2); }
    std::pair<uint32_t, uint32_t> used(uint16_t q, uint16_t slot) {
        uint64_t at = ring_base(q) + 0x2000 + 4 + 8ULL * (slot % kSize);
        return {read<uint32_t>(at), read<uint32_t>(at + 4)};
    }
    template <typename T>
    T read(uint64_t gpa) {
        T v{};
        EXPECT_TRUE(_memory.read(gpa, std::span(reinterpret_cast<uint8_t*>(&v), sizeof(T))));
        return v;
    }
    void write(uint64_t gpa, std::span<const uint8_t> bytes) { ASSERT_TRUE(_memory.write(gpa, bytes)); }

    std::map<uint16_t, int> signals;
    std::vector<uint16_t> kicked;
    std::map<int, std::function<void(uint32_t)>> watches;

private:
    GuestMemory _memory;
    std::vector<Queue> _queues;
    std::map<uint16_t, uint16_t> _avail;
};

class VsockDeviceTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/brood-vsock-dev-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        auto d = VsockDevice::create({7, dir + "/v.sock"});
        ASSERT_TRUE(d) << d.error().message();
        device = std::move(*d);
        // Linux's receive buffers: a 44-byte header descriptor chained to a 4 KiB one.
        for (uint16_t i = 0; i < 4; ++i) {
            uint64_t at = kRxBuffers + 0x2000ULL * i;
            ctx.desc(0, 2 * i, at, Header::kSize, kWrite | kNext, 2 * i + 1);
            ctx.desc(0, 2 * i + 1, at + 0x100, 4096, kWrite);
            ctx.make_available(0, 2 * i);
        }
        for (uint16_t i = 0; i < 2; ++i) {
            ctx.desc(2, i, kEventBuffers + 16ULL * i, 4, kWrite);
            ctx.make_available(2, i);
        }
        ASSERT_TRUE(device->activate(ctx, 0));
    }
    void TearDown() override {
        device.reset();
        std::filesystem::remove_all(dir);
    }

    // The guest sends a packet: header and payload in two descriptors.
    void guest_sends(Op op, uint32_t src_port, uint32_t dst_port, const std::string& data = {}, uint32_t len = ~0u) {
        Header h;
        h.src_cid = 7;
        h.dst_cid = vsock::kHostCid;
        h.src_port = src_port;
        h.dst_port = dst_port;
        h.op = static_cast<uint16_t>(op);
        h.len = len == ~0u ? static_cast<uint32_t>(data.size()) : len;
        h.buf_alloc = 65536;
        uint16_t d = static_cast<uint16_t>(2 * (tx_count % 8));
        uint64_t at = kTxBuffers + 0x2000ULL * (tx_count % 8);
        ctx.write(at, h.encode());
        ctx.write(at + 0x100, std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
        ctx.desc(1, d, at, Header::kSize, data.empty() ? 0 : kNext, d + 1);
        ctx.desc(1, d + 1, at + 0x100, static_cast<uint32_t>(data.size()), 0);
        ctx.make_available(1, d);
        ++tx_count;
        ASSERT_TRUE(device->process_queue(1));
    }
    // Serves the host sockets as the I/O thread would, then the rx queue.
    void host_turn() {
        auto fd = ctx.watches.begin()->first; // the engine's one poll fd
        pollfd p{fd, POLLIN, 0};
        for (int wait = 200; ::poll(&p, 1, wait) > 0; wait = 10) ctx.watches[fd](EPOLLIN);
        ASSERT_TRUE(device->process_queue(0));
    }
    // The packets the guest received since the last call.
    std::vector<std::pair<Header, std::string>> received() {
        std::vector<std::pair<Header, std::string>> out;
        for (; rx_seen != ctx.used_idx(0); ++rx_seen) {
            auto [head, len] = ctx.used(0, rx_seen);
            uint64_t at = kRxBuffers + 0x2000ULL * (head / 2);
            uint8_t raw[Header::kSize];
            for (size_t i = 0; i < sizeof(raw); ++i) raw[i] = ctx.read<uint8_t>(at + i);
            Header h = *Header::decode(raw);
            EXPECT_EQ(len, Header::kSize + h.len) << "the used length covers header and payload";
            std::string data(h.len, '\0');
            for (size_t i = 0; i < h.len; ++i) data[i] = static_cast<char>(ctx.read<uint8_t>(at + 0x100 + i));
            out.push_back({h, data});
            ctx.make_available(0, static_cast<uint16_t>(head)); // the driver posts it again
        }
        return out;
    }
    UniqueFd host_dial(uint32_t port) {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::string path = dir + "/v.sock";
        std::memcpy(addr.sun_path, path.data(), path.size());
        EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        std::string line = "CONNECT " + std::to_string(port) + "\n";
        EXPECT_EQ(::send(fd.get(), line.data(), line.size(), 0), static_cast<ssize_t>(line.size()));
        return fd;
    }
    // A host connection the guest accepted on `port`; `local` is the guest's end.
    UniqueFd connected_to_guest(uint32_t port, uint32_t& local) {
        UniqueFd host = host_dial(port);
        host_turn();
        local = received().at(0).first.src_port;
        guest_sends(Op::response, port, local);
        EXPECT_EQ(read_some(host.get()), "OK " + std::to_string(local) + "\n");
        return host;
    }
    static std::string read_some(int fd) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 1000) <= 0) return "";
        char buf[256];
        ssize_t n = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        return n <= 0 ? "<eof>" : std::string(buf, static_cast<size_t>(n));
    }

    std::string dir;
    FakeContext ctx;
    std::unique_ptr<VsockDevice> device;
    uint32_t tx_count = 0;
    uint16_t rx_seen = 0;
};

TEST_F(VsockDeviceTest, ConfigSpaceHoldsTheCid) {
    uint8_t cfg[8];
    device->read_config(0, cfg);
    EXPECT_EQ(cfg[0], 7);
    EXPECT_EQ(cfg[1], 0);
    uint8_t high[4];
    device->read_config(4, high);
    EXPECT_EQ(high[0], 0) << "Linux reads the le64 as two 32-bit halves";
    EXPECT_EQ(device->features(), 0u) << "streams only: no SEQPACKET";
    EXPECT_EQ(device->queue_count(), 3);
}

TEST_F(VsockDeviceTest, HandshakeAndDataThroughSplitDescriptors) {
    UniqueFd host = host_dial(52);
    host_turn();
    auto pkts = received();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].first.op, static_cast<uint16_t>(Op::request));
    EXPECT_EQ(pkts[0].first.dst_cid, 7u);
    uint32_t local = pkts[0].first.src_port;
    EXPECT_GT(ctx.signals[0], 0) << "the guest is interrupted for its rx buffers";
    guest_sends(Op::response, 52, local);
    EXPECT_EQ(read_some(host.get()), "OK " + std::to_string(local) + "\n");
    guest_sends(Op::rw, 52, local, "from the guest");
    EXPECT_EQ(read_some(host.get()), "from the guest");
    EXPECT_EQ(ctx.used_idx(1), static_cast<uint16_t>(tx_count)) << "every tx chain goes back used";
    std::string big(6000, 'h'); // more than one 4 KiB receive buffer
    ASSERT_EQ(::send(host.get(), big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
    host_turn();
    std::string got;
    for (auto& [h, data] : received()) {
        EXPECT_LE(h.len, 4096u);
        got += data;
    }
    EXPECT_EQ(got, big);
}

TEST_F(VsockDeviceTest, PauseClosesHostSocketsAndTheGuestIsToldToReset) {
    uint32_t local = 0;
    UniqueFd host = connected_to_guest(52, local);
    ASSERT_FALSE(HasFailure()) << "the guest did not accept the connection";
    ASSERT_TRUE(device->quiesce());
    EXPECT_EQ(read_some(host.get()), "<eof>");
    EXPECT_EQ(ctx.used_idx(2), 0) << "nothing reaches the guest while it is paused";
    ASSERT_TRUE(device->process_queue(0)); // the resumed machine looks at every queue
    ASSERT_EQ(ctx.used_idx(2), 1);
    auto [head, len] = ctx.used(2, 0);
    EXPECT_EQ(len, 4u);
    EXPECT_EQ(ctx.read<uint32_t>(kEventBuffers + 16ULL * head), vsock::kEventTransportReset);
}

TEST_F(VsockDeviceTest, RestoreTakesTheNewCidAndSendsTheResetEvent) {
    auto saved = device->save_state();
    // A fork: another device, a CID from the command line.
    auto fork = VsockDevice::create({9, dir + "/fork.sock"});
    ASSERT_TRUE(fork);
    ASSERT_TRUE((*fork)->restore_state(saved, 1));
    EXPECT_EQ((*fork)->guest_cid(), 9u) << "the command line wins";
    // A restore that keeps the saved CID.
    auto same = VsockDevice::create({0, dir + "/same.sock"});
    ASSERT_TRUE(same);
    ASSERT_TRUE((*same)->restore_state(saved, 1));
    EXPECT_EQ((*same)->guest_cid(), 7u);
    const uint8_t bad_cid[8] = {2, 0, 0, 0, 0, 0, 0, 0};
    EXPECT_FALSE((*same)->restore_state(bad_cid, 1)) << "CID 2 is the host's";
    const uint8_t short_state[3] = {1, 2, 3};
    EXPECT_FALSE((*same)->restore_state(short_state, 1));

    device->reset();
    ASSERT_TRUE(device->restore_state(saved, 1));
    ASSERT_TRUE(device->activate(ctx, 0));
    ASSERT_TRUE(device->process_queue(0));
    EXPECT_EQ(ctx.used_idx(2), 1) << "a restored guest drops its old connections";
}

// A host program that connects right after a restore must not be dropped by
// the reset meant for the saved machine's connections: its request reaches
// the guest only once the guest has handled the reset.
TEST_F(VsockDeviceTest, AfterARestoreNothingReachesTheGuestUntilItHandledTheReset) {
    auto saved = device->save_state();
    device->reset();
    ASSERT_TRUE(device->restore_state(saved, 1));
    ASSERT_TRUE(device->activate(ctx, 0));
    UniqueFd host = host_dial(52);
    host_turn();
    ASSERT_EQ(ctx.used_idx(2), 1) << "the reset event went out";
    EXPECT_TRUE(received().empty()) << "the request overtook the reset";
    // The driver handles the event and posts its buffer again.
    ctx.make_available(2, static_cast<uint16_t>(ctx.used(2, 0).first));
    ASSERT_TRUE(device->process_queue(2));
    auto pkts = received();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].first.op, static_cast<uint16_t>(Op::request));
}

TEST_F(VsockDeviceTest, AGuestThatNeverAnswersTheResetIsServedAfterTwoSeconds) {
    ASSERT_TRUE(device->quiesce());
    UniqueFd before = host_dial(52); // closed by nothing: the pause had no connections
    ASSERT_TRUE(device->restore_state(device->save_state(), 1));
    host_turn();
    ASSERT_EQ(ctx.used_idx(2), 1);
    EXPECT_TRUE(received().empty());
    // The timer fires at the deadline and kicks the rx queue.
    auto timer = std::prev(ctx.watches.end())->first;
    pollfd p{timer, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 3000), 1) << "no timer for the reset's deadline";
    ctx.watches[timer](EPOLLIN);
    ASSERT_TRUE(device->process_queue(0));
    EXPECT_EQ(received().size(), 1u) << "the request waits no longer than the deadline";
}

TEST_F(VsockDeviceTest, HostileChainsGetResetsNotCrashes) {
    uint32_t local = 0;
    UniqueFd host = connected_to_guest(52, local);
    ASSERT_FALSE(HasFailure()) << "the guest did not accept the connection";
    // A header claiming a payload far longer than its chain.
    guest_sends(Op::rw, 52, local, "short", 1u << 30);
    host_turn();
    auto pkts = received();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].first.op, static_cast<uint16_t>(Op::rst));
    EXPECT_EQ(read_some(host.get()), "<eof>");
    // A tx chain too short for a header is returned and ignored.
    ctx.desc(1, 0, kTxBuffers, 10, 0);
    ctx.make_available(1, 0);
    ASSERT_TRUE(device->process_queue(1));
    EXPECT_EQ(ctx.used_idx(1), static_cast<uint16_t>(tx_count + 1));
    // A descriptor outside guest RAM is the transport's error, and the host side stops.
    ctx.desc(1, 0, uint64_t{1} << 40, 64, 0);
    ctx.make_available(1, 0);
    EXPECT_FALSE(device->process_queue(1));
    EXPECT_TRUE(ctx.watches.empty()) << "no host socket is watched while the device is stopped";
}

} // namespace
} // namespace brood::virtio
