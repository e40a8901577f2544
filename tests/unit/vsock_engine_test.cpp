// The vsock engine's protocol: handshakes both ways, data both ways, credit,
// shutdown and reset.
#include "vsock_fixture.hpp"

namespace brood::vsock {
namespace {

constexpr uint16_t op(Op o) { return static_cast<uint16_t>(o); }

TEST_F(VsockTest, HostConnectsToAGuestPort) {
    UniqueFd fd = host_dial();
    ASSERT_TRUE(fd);
    write_all(fd.get(), "CONNECT 52\n");
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    const Header& req = pkts[0].header;
    EXPECT_EQ(req.op, op(Op::request));
    EXPECT_EQ(req.src_cid, kHostCid);
    EXPECT_EQ(req.dst_cid, kCid);
    EXPECT_EQ(req.dst_port, 52u);
    EXPECT_GE(req.src_port, 1u << 30) << "host-side ports come from their own range";
    EXPECT_EQ(req.buf_alloc, Connection::kBufAlloc);
    EXPECT_EQ(read_some(fd.get(), 100, 50), "") << "nothing for the host before the guest answers";
    send(guest(Op::response, 52, req.src_port));
    EXPECT_EQ(read_some(fd.get()), "OK " + std::to_string(req.src_port) + "\n");
    EXPECT_EQ(muxer->connection_count(), 1u);
}

TEST_F(VsockTest, DataFlowsBothWaysOnAHostConnection) {
    auto [fd, local] = host_connects(52);
    write_all(fd.get(), "hello guest");
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.op, op(Op::rw));
    EXPECT_EQ(pkts[0].header.src_port, local);
    EXPECT_EQ(pkts[0].header.dst_port, 52u);
    EXPECT_EQ(pkts[0].header.len, 11u);
    EXPECT_EQ(text(pkts[0]), "hello guest");
    send(guest(Op::rw, 52, local), "hello host");
    EXPECT_EQ(read_some(fd.get()), "hello host");
}

TEST_F(VsockTest, BytesSentRightAfterTheConnectLineReachTheGuest) {
    UniqueFd fd = host_dial();
    write_all(fd.get(), "CONNECT 9\nearly bytes");
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    uint32_t local = pkts[0].header.src_port;
    send(guest(Op::response, 9, local));
    EXPECT_EQ(read_some(fd.get()), "OK " + std::to_string(local) + "\n");
    pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(text(pkts[0]), "early bytes");
}

TEST_F(VsockTest, GuestConnectsToAHostPort) {
    UniqueFd listener = host_listen(1234);
    send(guest(Op::request, 5000, 1234));
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.op, op(Op::response));
    EXPECT_EQ(pkts[0].header.src_port, 1234u);
    EXPECT_EQ(pkts[0].header.dst_port, 5000u);
    EXPECT_EQ(pkts[0].header.dst_cid, kCid);
    UniqueFd conn(::accept(listener.get(), nullptr, nullptr));
    ASSERT_TRUE(conn);
    send(guest(Op::rw, 5000, 1234), "ping");
    EXPECT_EQ(read_some(conn.get()), "ping");
    write_all(conn.get(), "pong");
    pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(text(pkts[0]), "pong");
}

TEST_F(VsockTest, GuestConnectWithNobodyListeningGetsRst) {
    send(guest(Op::request, 5000, 4321));
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.op, op(Op::rst));
    EXPECT_EQ(pkts[0].header.src_port, 4321u);
    EXPECT_EQ(pkts[0].header.dst_port, 5000u);
    EXPECT_EQ(muxer->connection_count(), 0u);
}

TEST_F(VsockTest, HostDataStopsAtTheGuestsCredit) {
    guest_buf_alloc = 100;
    auto [fd, local] = host_connects(52);
    write_all(fd.get(), std::string(1000, 'x'));
    auto pkts = drain();
    size_t sent = 0;
    bool asked = false;
    for (const auto& p : pkts) {
        if (p.header.op == op(Op::rw)) sent += p.data.size();
        if (p.header.op == op(Op::credit_request)) asked = true;
    }
    EXPECT_EQ(sent, 100u) << "never more than the guest's buffer";
    EXPECT_TRUE(asked) << "a stalled sender asks for credit";
    EXPECT_TRUE(drain().empty()) << "no more until the guest frees room";
    guest_fwd_cnt = 100;
    send(guest(Op::credit_update, 52, local));
    pkts = drain();
    sent = 0;
    for (const auto& p : pkts) sent += p.header.op == op(Op::rw) ? p.data.size() : 0;
    EXPECT_EQ(sent, 100u);
}

TEST_F(VsockTest, PacketsFitTheGuestsBuffers) {
    auto [fd, local] = host_connects(52);
    write_all(fd.get(), std::string(3000, 'y'));
    auto pkts = drain(1024);
    size_t total = 0;
    for (const auto& p : pkts) {
        EXPECT_LE(p.data.size(), 1024u);
        total += p.data.size();
    }
    EXPECT_EQ(total, 3000u);
}

TEST_F(VsockTest, CreditUpdatesReportForwardedGuestBytes) {
    auto [fd, local] = host_connects(52);
    std::string chunk(64 * 1024, 'z');
    for (int i = 0; i < 2; ++i) send(guest(Op::rw, 52, local), chunk);
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u) << "half the buffer forwarded: one update";
    EXPECT_EQ(pkts[0].header.op, op(Op::credit_update));
    EXPECT_EQ(pkts[0].header.fwd_cnt, 128u * 1024);
    EXPECT_EQ(pkts[0].header.buf_alloc, Connection::kBufAlloc);
}

TEST_F(VsockTest, CreditRequestIsAnswered) {
    auto [fd, local] = host_connects(52);
    send(guest(Op::credit_request, 52, local));
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.op, op(Op::credit_update));
}

TEST_F(VsockTest, HostEofBecomesShutdownAndGuestFinishesWithRst) {
    auto [fd, local] = host_connects(52);
    ::shutdown(fd.get(), SHUT_WR);
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.op, op(Op::shutdown));
    EXPECT_EQ(pkts[0].header.flags, kShutdownSend) << "half close: the host still reads";
    send(guest(Op::rw, 52, local), "still heard");
    EXPECT_EQ(read_some(fd.get()), "still heard");
    send(guest(Op::shutdown, 52, local, kShutdownBoth));
    pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.op, op(Op::rst)) << "a full shutdown is answered with RST";
    EXPECT_EQ(read_some(fd.get()), "<eof>");
    EXPECT_EQ(muxer->connection_count(), 0u);
}

TEST_F(VsockTest, HostCloseEndsWithShutdownThenGuestRst) {
    auto [fd, local] = host_connects(52);
    write_all(fd.get(), "last words");
    fd.reset();
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 2u);
    EXPECT_EQ(text(pkts[0]), "last words") << "data left in the socket is delivered first";
    EXPECT_EQ(pkts[1].header.op, op(Op::shutdown));
    EXPECT_EQ(pkts[1].header.flags, kShutdownBoth);
    send(guest(Op::rst, 52, local));
    EXPECT_EQ(muxer->connection_count(), 0u);
    EXPECT_TRUE(drain().empty()) << "an RST is never answered";
}

TEST_F(VsockTest, GuestHalfCloseShutsTheHostWriteSide) {
    auto [fd, local] = host_connects(52);
    send(guest(Op::shutdown, 52, local, kShutdownSend));
    EXPECT_EQ(read_some(fd.get()), "<eof>") << "the host reads end of stream";
    write_all(fd.get(), "reply");
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(text(pkts[0]), "reply") << "the other direction still flows";
}

TEST_F(VsockTest, GuestRstClosesTheHostSocket) {
    auto [fd, local] = host_connects(52);
    send(guest(Op::rst, 52, local));
    EXPECT_TRUE(closed(fd.get()));
    EXPECT_EQ(muxer->connection_count(), 0u);
    EXPECT_TRUE(drain().empty());
}

TEST_F(VsockTest, GuestRefusalClosesTheHostSocket) {
    UniqueFd fd = host_dial();
    write_all(fd.get(), "CONNECT 77\n");
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    send(guest(Op::rst, 77, pkts[0].header.src_port));
    EXPECT_TRUE(closed(fd.get())) << "no OK line: the socket just closes";
}

TEST_F(VsockTest, UnansweredRequestTimesOut) {
    UniqueFd fd = host_dial();
    write_all(fd.get(), "CONNECT 77\n");
    ASSERT_EQ(drain().size(), 1u);
    auto deadline = muxer->next_deadline();
    ASSERT_TRUE(deadline);
    muxer->expire(*deadline);
    EXPECT_TRUE(closed(fd.get()));
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.op, op(Op::rst)) << "the guest forgets the half-open connection";
}

TEST_F(VsockTest, ResetClosesEveryHostSocketAndKeepsListening) {
    auto [a, pa] = host_connects(52);
    auto [b, pb] = host_connects(53);
    EXPECT_EQ(muxer->connection_count(), 2u);
    muxer->reset();
    EXPECT_EQ(muxer->connection_count(), 0u);
    EXPECT_TRUE(closed(a.get()));
    EXPECT_TRUE(closed(b.get()));
    EXPECT_TRUE(drain().empty()) << "the guest learns through the transport reset event, not RSTs";
    auto [c, pc] = host_connects(52);
    EXPECT_EQ(muxer->connection_count(), 1u);
}

TEST_F(VsockTest, ManyConnectionsAreMultiplexed) {
    std::vector<std::pair<UniqueFd, uint32_t>> conns;
    for (uint32_t i = 0; i < 8; ++i) conns.push_back(host_connects(100 + i));
    for (uint32_t i = 0; i < 8; ++i) write_all(conns[i].first.get(), "n" + std::to_string(i));
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 8u);
    for (const auto& p : pkts) EXPECT_EQ(text(p), "n" + std::to_string(p.header.dst_port - 100));
    for (uint32_t i = 0; i < 8; ++i) send(guest(Op::rw, 100 + i, conns[i].second), "r" + std::to_string(i));
    for (uint32_t i = 0; i < 8; ++i) EXPECT_EQ(read_some(conns[i].first.get()), "r" + std::to_string(i));
}

} // namespace
} // namespace brood::vsock
