// The virtio-vsock header as Linux lays it out: 44 bytes, little endian.
#include <gtest/gtest.h>

#include "vmm/virtio/vsock_packet.hpp"
#include "vmm/virtio/vsock_host_socket.hpp"

namespace brood::vsock {
namespace {

TEST(VsockPacket, HeaderLayoutMatchesTheSpec) {
    Header h;
    h.src_cid = 0x0102030405060708;
    h.dst_cid = 2;
    h.src_port = 0x11223344;
    h.dst_port = 52;
    h.len = 5;
    h.type = kTypeStream;
    h.op = static_cast<uint16_t>(Op::rw);
    h.flags = 3;
    h.buf_alloc = 0x40000;
    h.fwd_cnt = 9;
    auto b = h.encode();
    ASSERT_EQ(b.size(), 44u);
    EXPECT_EQ(b[0], 0x08);
    EXPECT_EQ(b[7], 0x01);
    EXPECT_EQ(b[8], 2);
    EXPECT_EQ(b[16], 0x44) << "src_port at 16";
    EXPECT_EQ(b[20], 52) << "dst_port at 20";
    EXPECT_EQ(b[24], 5) << "len at 24";
    EXPECT_EQ(b[28], 1) << "type at 28";
    EXPECT_EQ(b[30], 5) << "op at 30";
    EXPECT_EQ(b[32], 3) << "flags at 32";
    EXPECT_EQ(b[38], 0x04) << "buf_alloc at 36";
    EXPECT_EQ(b[40], 9) << "fwd_cnt at 40";
    auto back = Header::decode(b);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->src_cid, h.src_cid);
    EXPECT_EQ(back->src_port, h.src_port);
    EXPECT_EQ(back->buf_alloc, h.buf_alloc);
    EXPECT_EQ(back->fwd_cnt, h.fwd_cnt);
}

TEST(VsockPacket, ShortHeaderDoesNotDecode) {
    uint8_t b[43] = {};
    EXPECT_FALSE(Header::decode(b));
}

TEST(VsockPacket, ConnectLineParsing) {
    EXPECT_EQ(parse_connect_line("CONNECT 52"), 52u);
    EXPECT_EQ(parse_connect_line("CONNECT 4294967295"), 4294967295u);
    EXPECT_FALSE(parse_connect_line("CONNECT 4294967296"));
    EXPECT_FALSE(parse_connect_line("CONNECT "));
    EXPECT_FALSE(parse_connect_line("CONNECT -1"));
    EXPECT_FALSE(parse_connect_line("CONNECT 52 "));
    EXPECT_FALSE(parse_connect_line("connect 52"));
    EXPECT_FALSE(parse_connect_line("CONNECT 00000000052"));
    EXPECT_FALSE(parse_connect_line(""));
}

} // namespace
} // namespace brood::vsock
