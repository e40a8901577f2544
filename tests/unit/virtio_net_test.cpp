// virtio-net against a pretend driver: two split queues in guest RAM, the
// device context faked, and a SOCK_SEQPACKET pair standing in for the TAP
// (one frame per read and write, as a TAP without IFF_VNET_HDR).
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <numeric>

#include "vmm/memory/guest_memory.hpp"
#include "vmm/virtio/net.hpp"

namespace brood::virtio::test {
namespace {

constexpr uint64_t kRamSize = 16 << 20;
constexpr uint16_t kSize = 16;
constexpr uint16_t kWrite = 2, kNext = 1;

struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

// One split queue at `base`: descriptors, then the available and used rings.
class Ring {
public:
    Ring(GuestMemory& memory, uint64_t base) : _memory(memory), _base(base) {}
    QueueState state() const {
        QueueState s;
        s.size = kSize;
        s.ready = true;
        s.desc_addr = _base;
        s.avail_addr = _base + 0x1000;
        s.used_addr = _base + 0x2000;
        return s;
    }
    void set_desc(uint16_t i, Desc d) { ASSERT_TRUE(_memory.write_obj(_base + 16ULL * i, d)); }
    void make_available(uint16_t head) {
        ASSERT_TRUE(_memory.write_obj(_base + 0x1000 + 4 + 2ULL * (_avail % kSize), head));
        ++_avail;
        ASSERT_TRUE(_memory.write_obj(_base + 0x1000 + 2, _avail));
    }
    uint16_t used_idx() const { return read<uint16_t>(_base + 0x2000 + 2); }
    uint32_t used_len(uint16_t slot) const { return read<uint32_t>(_base + 0x2000 + 4 + 8ULL * slot + 4); }
    template <typename T>
    T read(uint64_t gpa) const {
        T v{};
        EXPECT_TRUE(_memory.read(gpa, std::span(reinterpret_cast<uint8_t*>(&v), sizeof(T))));
        return v;
    }

private:
    GuestMemory& _memory;
    uint64_t _base;
    uint16_t _avail = 0;
};

class FakeContext final : public DeviceContext {
public:
    explicit FakeContext(GuestMemory& memory) : _memory(memory) {
        _queues.emplace_back(memory, kSize);
        _queues.emplace_back(memory, kSize);
    }
    GuestMemory& memory() override { return _memory; }
    Queue& queue(uint16_t index) override { return _queues.at(index); }
    void signal_used(uint16_t index) override { ++signals[index]; }
    void kick(uint16_t index) override { ++kicks[index]; }
    Result<void> watch_fd(int fd, uint32_t, std::function<void(uint32_t)> on_event) override {
        watched[fd] = std::move(on_event);
        return {};
    }
    void unwatch_fd(int fd) override { watched.erase(fd); }

    std::map<uint16_t, int> signals, kicks;
    std::map<int, std::function<void(uint32_t)>> watched;

private:
    GuestMemory& _memory;
    std::vector<Queue> _queues;
};

const MacAddress kMac{0x02, 0x42, 0xac, 0x1e, 0x00, 0x05};
constexpr uint64_t kRxBase = 0x10000, kTxBase = 0x20000, kData = 0x100000;

class NetTest : public ::testing::Test {
protected:
    NetTest()
        : memory(std::move(*GuestMemory::anonymous(kRamSize))), context(memory), rx(memory, kRxBase),
          tx(memory, kTxBase) {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
        peer.reset(fds[1]);
        tap_fd = fds[0];
        net = std::make_unique<Net>(UniqueFd(fds[0]), kMac);
        context.queue(Net::kRxQueue).state() = rx.state();
        context.queue(Net::kTxQueue).state() = tx.state();
        EXPECT_TRUE(net->activate(context, kFeatureMacVersion1));
    }
    static constexpr uint64_t kFeatureMacVersion1 = net::kFeatureMac | (1ULL << 32);

    std::vector<uint8_t> frame(size_t len, uint8_t seed) {
        std::vector<uint8_t> f(len);
        std::iota(f.begin(), f.end(), seed);
        return f;
    }
    // A receive chain of `len` device-writable bytes at `addr`.
    void post_rx(uint16_t head, uint64_t addr, uint32_t len) {
        rx.set_desc(head, {addr, len, kWrite, 0});
        rx.make_available(head);
    }
    std::vector<uint8_t> peer_read() {
        std::vector<uint8_t> buf(net::kMaxFrame + 16);
        ssize_t n = ::read(peer.get(), buf.data(), buf.size());
        buf.resize(n < 0 ? 0 : static_cast<size_t>(n));
        return buf;
    }

    GuestMemory memory;
    FakeContext context;
    Ring rx, tx;
    UniqueFd peer;
    int tap_fd = -1;
    std::unique_ptr<Net> net;
};

TEST_F(NetTest, OffersTheMacInConfigSpace) {
    EXPECT_EQ(net->features(), net::kFeatureMac);
    uint8_t config[8];
    net->read_config(0, config);
    EXPECT_EQ(std::memcmp(config, kMac.data(), 6), 0);
    EXPECT_EQ(config[6], 0);
    EXPECT_EQ(format_mac(kMac), "02:42:ac:1e:00:05");
}

TEST_F(NetTest, TransmitsTheFrameWithoutItsHeader) {
    auto f = frame(100, 7);
    std::vector<uint8_t> header(net::kHeaderSize, 0);
    ASSERT_TRUE(memory.write(kData, header));
    ASSERT_TRUE(memory.write(kData + 0x1000, f));
    // The header and the frame in two descriptors, as Linux sends them.
    tx.set_desc(0, {kData, net::kHeaderSize, kNext, 1});
    tx.set_desc(1, {kData + 0x1000, 100, 0, 0});
    tx.make_available(0);
    ASSERT_TRUE(net->process_queue(Net::kTxQueue));
    EXPECT_EQ(peer_read(), f);
    EXPECT_EQ(tx.used_idx(), 1);
    EXPECT_EQ(context.signals[Net::kTxQueue], 1);
    EXPECT_EQ(net->counters().tx_frames, 1u);
}

TEST_F(NetTest, DropsShortAndOversizedTransmitChains) {
    tx.set_desc(0, {kData, 5, 0, 0}); // shorter than the header
    tx.make_available(0);
    tx.set_desc(1, {kData, net::kHeaderSize, 0, 0}); // a header and no frame
    tx.make_available(1);
    tx.set_desc(2, {kData, net::kHeaderSize + net::kMaxFrame + 1, 0, 0}); // too large
    tx.make_available(2);
    ASSERT_TRUE(net->process_queue(Net::kTxQueue));
    EXPECT_EQ(tx.used_idx(), 3);
    EXPECT_EQ(net->counters().tx_dropped, 3u);
    EXPECT_TRUE(peer_read().empty()); // nothing reached the backend
}

TEST_F(NetTest, ReceivesAFrameBehindAHeader) {
    auto f = frame(60, 3);
    ASSERT_EQ(::write(peer.get(), f.data(), f.size()), 60);
    post_rx(0, kData, 1526);
    ASSERT_TRUE(net->process_queue(Net::kRxQueue));
    ASSERT_EQ(rx.used_idx(), 1);
    EXPECT_EQ(rx.used_len(0), net::kHeaderSize + 60);
    EXPECT_EQ(rx.read<uint16_t>(kData + 10), 1); // num_buffers
    EXPECT_EQ(rx.read<uint8_t>(kData), 0);        // no flags: no offloads
    std::vector<uint8_t> got(60);
    ASSERT_TRUE(memory.read(kData + net::kHeaderSize, got));
    EXPECT_EQ(got, f);
    EXPECT_EQ(context.signals[Net::kRxQueue], 1);
    EXPECT_TRUE(context.watched.count(tap_fd)); // listening for the next frame
}

TEST_F(NetTest, FramesWaitInTheBackendUntilBuffersArrive) {
    auto a = frame(60, 1), b = frame(70, 2);
    ASSERT_EQ(::write(peer.get(), a.data(), a.size()), 60);
    ASSERT_EQ(::write(peer.get(), b.data(), b.size()), 70);
    ASSERT_TRUE(net->process_queue(Net::kRxQueue));
    // No buffers: the device stops listening rather than spin on a readable fd.
    EXPECT_FALSE(context.watched.count(tap_fd));
    EXPECT_EQ(rx.used_idx(), 0);
    post_rx(0, kData, 1526);
    post_rx(1, kData + 0x1000, 1526);
    ASSERT_TRUE(net->process_queue(Net::kRxQueue));
    ASSERT_EQ(rx.used_idx(), 2);
    EXPECT_EQ(rx.used_len(0), net::kHeaderSize + 60);
    EXPECT_EQ(rx.used_len(1), net::kHeaderSize + 70);
    EXPECT_EQ(rx.read<uint8_t>(kData + 0x1000 + net::kHeaderSize), 2);
    EXPECT_TRUE(context.watched.count(tap_fd));
}

TEST_F(NetTest, AFrameTooLargeForTheBufferIsDroppedAndTheNextArrives) {
    auto big = frame(2000, 1), small = frame(64, 9);
    ASSERT_EQ(::write(peer.get(), big.data(), big.size()), 2000);
    ASSERT_EQ(::write(peer.get(), small.data(), small.size()), 64);
    post_rx(0, kData, 1526);
    post_rx(1, kData + 0x1000, 1526);
    ASSERT_TRUE(net->process_queue(Net::kRxQueue));
    ASSERT_EQ(rx.used_idx(), 2);
    EXPECT_EQ(rx.used_len(0), 0u);
    EXPECT_EQ(rx.used_len(1), net::kHeaderSize + 64);
    EXPECT_EQ(net->counters().rx_dropped, 1u);
    EXPECT_EQ(net->counters().rx_frames, 1u);
}

TEST_F(NetTest, AReceiveChainWithNoWritableBytesGetsNothing) {
    auto f = frame(60, 1);
    ASSERT_EQ(::write(peer.get(), f.data(), f.size()), 60);
    rx.set_desc(0, {kData, 1526, 0, 0}); // device-readable: useless for receiving
    rx.make_available(0);
    ASSERT_TRUE(net->process_queue(Net::kRxQueue));
    EXPECT_EQ(rx.used_idx(), 1);
    EXPECT_EQ(rx.used_len(0), 0u);
    EXPECT_EQ(net->counters().rx_dropped, 1u);
}

TEST_F(NetTest, BrokenChainsAreAnErrorNotACrash) {
    tx.set_desc(0, {kData, 64, kNext, 0}); // points at itself
    tx.make_available(0);
    EXPECT_FALSE(net->process_queue(Net::kTxQueue));
    auto f = frame(60, 1);
    ASSERT_EQ(::write(peer.get(), f.data(), f.size()), 60);
    post_rx(0, kRamSize - 8, 1526); // runs past the end of guest RAM
    EXPECT_FALSE(net->process_queue(Net::kRxQueue));
}

TEST_F(NetTest, AClosedBackendStopsReceivingQuietly) {
    peer.reset();
    ASSERT_TRUE(net->process_queue(Net::kRxQueue));
    EXPECT_FALSE(context.watched.count(tap_fd)); // no watch on an fd that stays readable
    post_rx(0, kData, 1526);
    ASSERT_TRUE(net->process_queue(Net::kRxQueue));
    EXPECT_FALSE(context.watched.count(tap_fd));
    EXPECT_EQ(rx.used_idx(), 0);
}

TEST_F(NetTest, BackendReadableKicksTheReceiveQueue) {
    ASSERT_TRUE(context.watched.count(tap_fd));
    context.watched[tap_fd](EPOLLIN);
    EXPECT_EQ(context.kicks[Net::kRxQueue], 1);
    net->reset();
    EXPECT_FALSE(context.watched.count(tap_fd));
}

TEST_F(NetTest, StateKeepsTheMacAndARestoreKeepsTheCommandLines) {
    auto bytes = net->save_state();
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, fds), 0);
    UniqueFd other_peer(fds[1]);
    const MacAddress fork_mac{0x02, 0, 0, 0, 0, 9};
    Net fork(UniqueFd(fds[0]), fork_mac);
    ASSERT_TRUE(fork.restore_state(bytes, NetStateCodec::kVersion));
    EXPECT_EQ(fork.mac(), fork_mac);
    snapshot::ByteReader r(bytes, "state");
    auto decoded = NetStateCodec::decode(r, NetStateCodec::kVersion);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(decoded->mac, kMac);
    // Hostile bytes: truncated, trailing, or an unknown version.
    EXPECT_FALSE(fork.restore_state(std::span(bytes).first(3), NetStateCodec::kVersion));
    auto longer = bytes;
    longer.push_back(0);
    EXPECT_FALSE(fork.restore_state(longer, NetStateCodec::kVersion));
    EXPECT_FALSE(fork.restore_state(bytes, 99));
}

TEST(MacAddress, ParsesAndRefusesBadText) {
    auto mac = parse_mac("02:AB:cd:00:10:ff");
    ASSERT_TRUE(mac);
    EXPECT_EQ(format_mac(*mac), "02:ab:cd:00:10:ff");
    for (const char* bad : {"", "02:ab:cd:00:10", "02:ab:cd:00:10:ff:00", "02-ab-cd-00-10-ff", "0g:ab:cd:00:10:ff",
                            "01:00:5e:00:00:01", "00:00:00:00:00:00"})
        EXPECT_FALSE(parse_mac(bad)) << bad;
}

} // namespace
} // namespace brood::virtio::test
