// The vsock engine against a hostile guest and hostile host programs: each
// gets an RST or a closed socket, and the engine keeps serving others.
#include "vsock_fixture.hpp"

namespace brood::vsock {
namespace {

constexpr uint16_t op(Op o) { return static_cast<uint16_t>(o); }

TEST_F(VsockTest, PacketFromAForeignCidIsDropped) {
    Header h = guest(Op::request, 5000, 1234);
    h.src_cid = kCid + 1;
    send(h);
    EXPECT_TRUE(drain().empty()) << "no answer to an address the guest does not own";
}

TEST_F(VsockTest, PacketForAnotherCidGetsRst) {
    Header h = guest(Op::request, 5000, 1234);
    h.dst_cid = 99;
    send(h);
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.op, op(Op::rst));
    EXPECT_EQ(pkts[0].header.src_cid, 99u);
    EXPECT_EQ(pkts[0].header.dst_cid, kCid);
}

TEST_F(VsockTest, SeqpacketIsRefused) {
    UniqueFd listener = host_listen(1234);
    Header h = guest(Op::request, 5000, 1234);
    h.type = 2;
    send(h);
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.op, op(Op::rst));
    EXPECT_EQ(muxer->connection_count(), 0u);
}

TEST_F(VsockTest, PacketsForUnknownConnectionsGetRst) {
    for (Op o : {Op::rw, Op::response, Op::shutdown, Op::credit_update, Op::credit_request}) {
        send(guest(o, 6000, 6001), o == Op::rw ? "data" : "");
        auto pkts = drain();
        ASSERT_EQ(pkts.size(), 1u) << op_name(op(o));
        EXPECT_EQ(pkts[0].header.op, op(Op::rst));
    }
    send(guest(Op::rst, 6000, 6001));
    EXPECT_TRUE(drain().empty()) << "an RST for nothing is ignored";
}

TEST_F(VsockTest, UnknownOpResetsTheConnection) {
    auto [fd, local] = host_connects(52);
    Header h = guest(Op::rw, 52, local);
    h.op = 99;
    send(h);
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.op, op(Op::rst));
    EXPECT_TRUE(closed(fd.get()));
}

TEST_F(VsockTest, LengthThatDisagreesWithThePayloadIsRefused) {
    auto [fd, local] = host_connects(52);
    Header h = guest(Op::rw, 52, local);
    h.len = 0x80000000; // a huge claim, a small payload
    std::string data = "tiny";
    muxer->from_guest(h, std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.op, op(Op::rst));
    EXPECT_EQ(read_some(fd.get()), "<eof>") << "no byte of it reached the host, and the connection ended";
}

TEST_F(VsockTest, GuestSendingBeyondOurCreditIsReset) {
    auto [fd, local] = host_connects(52);
    std::string chunk(64 * 1024, 'q');
    for (int i = 0; i < 4; ++i) send(guest(Op::rw, 52, local), chunk);
    EXPECT_EQ(muxer->connection_count(), 1u) << "exactly the advertised buffer is fine";
    send(guest(Op::rw, 52, local), "one byte too many");
    EXPECT_EQ(muxer->connection_count(), 0u);
    bool rst = false;
    for (const auto& p : drain()) rst |= p.header.op == op(Op::rst);
    EXPECT_TRUE(rst);
}

TEST_F(VsockTest, GuestCreditLieGivesNoExtraData) {
    guest_buf_alloc = 100;
    auto [fd, local] = host_connects(52);
    write_all(fd.get(), std::string(1000, 'x'));
    size_t sent = 0;
    for (const auto& p : drain()) sent += p.data.size();
    ASSERT_EQ(sent, 100u);
    guest_fwd_cnt = 5000; // claims to have consumed more than it got
    send(guest(Op::credit_update, 52, local));
    sent = 0;
    for (const auto& p : drain()) sent += p.data.size();
    EXPECT_EQ(sent, 0u) << "nonsense credit counts as none";
}

TEST_F(VsockTest, DataBeforeTheResponseIsRefused) {
    UniqueFd fd = host_dial();
    write_all(fd.get(), "CONNECT 52\n");
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    send(guest(Op::rw, 52, pkts[0].header.src_port), "too early");
    pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.op, op(Op::rst));
    EXPECT_TRUE(closed(fd.get()));
}

TEST_F(VsockTest, DataAfterGuestShutdownIsReset) {
    auto [fd, local] = host_connects(52);
    send(guest(Op::shutdown, 52, local, kShutdownSend));
    send(guest(Op::rw, 52, local), "after saying it was done");
    bool rst = false;
    for (const auto& p : drain()) rst |= p.header.op == op(Op::rst);
    EXPECT_TRUE(rst);
}

TEST_F(VsockTest, DuplicateRequestResetsTheConnection) {
    UniqueFd listener = host_listen(1234);
    send(guest(Op::request, 5000, 1234));
    send(guest(Op::request, 5000, 1234));
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 2u);
    EXPECT_EQ(pkts[0].header.op, op(Op::response));
    EXPECT_EQ(pkts[1].header.op, op(Op::rst));
    EXPECT_EQ(muxer->connection_count(), 0u);
}

TEST_F(VsockTest, GuestThatTakesNoPacketsCannotGrowTheQueue) {
    for (uint32_t i = 0; i < Muxer::kMaxControlQueue + 100; ++i) send(guest(Op::rw, i, 1));
    size_t n = 0;
    while (muxer->next_for_guest(4096)) ++n;
    EXPECT_EQ(n, Muxer::kMaxControlQueue);
}

TEST_F(VsockTest, GuestConnectionsAreCapped) {
    UniqueFd listener = host_listen(1234);
    for (uint32_t i = 0; i < max_connections + 3; ++i) send(guest(Op::request, 7000 + i, 1234));
    size_t responses = 0, rsts = 0;
    for (const auto& p : drain()) {
        responses += p.header.op == op(Op::response);
        rsts += p.header.op == op(Op::rst);
    }
    EXPECT_EQ(responses, max_connections);
    EXPECT_EQ(rsts, 3u);
}

TEST_F(VsockTest, HostConnectionsAreCapped) {
    std::vector<std::pair<UniqueFd, uint32_t>> conns;
    for (size_t i = 0; i < max_connections; ++i) conns.push_back(host_connects(52));
    UniqueFd extra = host_dial();
    ASSERT_TRUE(extra) << "the kernel queues the connection";
    write_all(extra.get(), "CONNECT 52\n");
    EXPECT_TRUE(drain().empty());
    EXPECT_TRUE(closed(extra.get())) << "over the cap: closed at once";
    EXPECT_EQ(muxer->connection_count(), max_connections);
}

TEST_F(VsockTest, ClientsThatNeverFinishTheirLineAreCapped) {
    std::vector<UniqueFd> silent;
    for (size_t i = 0; i < max_pending + 2; ++i) silent.push_back(host_dial());
    drain();
    EXPECT_EQ(muxer->pending_client_count(), max_pending);
    size_t refused = 0;
    for (auto& fd : silent) refused += read_some(fd.get(), 10, 20) == "<eof>";
    EXPECT_EQ(refused, 2u);
}

TEST_F(VsockTest, SilentClientTimesOut) {
    UniqueFd fd = host_dial();
    write_all(fd.get(), "CONN");
    drain();
    EXPECT_EQ(muxer->pending_client_count(), 1u);
    auto deadline = muxer->next_deadline();
    ASSERT_TRUE(deadline);
    muxer->expire(*deadline - std::chrono::milliseconds(1));
    EXPECT_EQ(muxer->pending_client_count(), 1u) << "not before its deadline";
    muxer->expire(*deadline);
    EXPECT_EQ(muxer->pending_client_count(), 0u);
    EXPECT_TRUE(closed(fd.get()));
}

TEST_F(VsockTest, MalformedConnectLinesAreClosed) {
    for (std::string line : {"CONNECT abc\n", "HELLO 52\n", "CONNECT 99999999999\n", "CONNECT 52 \n", "\n"}) {
        UniqueFd fd = host_dial();
        write_all(fd.get(), line);
        EXPECT_TRUE(drain().empty()) << line;
        EXPECT_TRUE(closed(fd.get())) << line;
    }
    EXPECT_EQ(muxer->pending_client_count(), 0u);
}

TEST_F(VsockTest, OverlongConnectLineIsClosed) {
    UniqueFd fd = host_dial();
    write_all(fd.get(), "CONNECT " + std::string(100, '1'));
    drain();
    drain();
    EXPECT_TRUE(closed(fd.get()));
    EXPECT_EQ(muxer->pending_client_count(), 0u);
}

TEST_F(VsockTest, ConnectLineInPiecesWorks) {
    UniqueFd fd = host_dial();
    write_all(fd.get(), "CONN");
    EXPECT_TRUE(drain().empty());
    write_all(fd.get(), "ECT 5");
    EXPECT_TRUE(drain().empty());
    write_all(fd.get(), "2\n");
    auto pkts = drain();
    ASSERT_EQ(pkts.size(), 1u);
    EXPECT_EQ(pkts[0].header.dst_port, 52u);
}

TEST_F(VsockTest, LiveSocketPathIsNotStolen) {
    MuxerConfig config;
    config.guest_cid = kCid + 1;
    config.socket_path = dir + "/v.sock";
    auto second = Muxer::create(config);
    ASSERT_FALSE(second);
    EXPECT_NE(second.error().message().find("in use"), std::string::npos) << second.error().message();
}

TEST_F(VsockTest, StaleSocketFileIsReplaced) {
    muxer.reset();
    EXPECT_TRUE(std::filesystem::exists(dir + "/v.sock") == false) << "a clean end removes the socket";
    // A socket file left by a process that died.
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = dir + "/v.sock";
    std::memcpy(addr.sun_path, path.data(), path.size());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    fd.reset();
    start();
    auto [conn, local] = host_connects(52);
    EXPECT_NE(local, 0u);
}

TEST_F(VsockTest, BadCidIsRefused) {
    for (uint64_t cid : {uint64_t{0}, uint64_t{1}, uint64_t{2}, uint64_t{1} << 32}) {
        MuxerConfig config;
        config.guest_cid = cid;
        config.socket_path = dir + "/other.sock";
        EXPECT_FALSE(Muxer::create(config)) << cid;
    }
}

} // namespace
} // namespace brood::vsock
