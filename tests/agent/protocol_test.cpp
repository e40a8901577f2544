// The frame codec both sides use: round trips, limits and damaged input.
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "agent/protocol.hpp"
#include "common/unique_fd.hpp"

using namespace brood;
using namespace brood::agent;

namespace {

struct SocketPair {
    UniqueFd a, b;
    SocketPair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        a.reset(fds[0]);
        b.reset(fds[1]);
    }
};

Deadline soon() { return Clock::now() + std::chrono::seconds(2); }

std::string prefix(const char* magic, uint32_t header, uint32_t payload) {
    std::string out(magic, 4);
    for (uint32_t v : {header, payload})
        for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
    return out;
}

void send_raw(int fd, const std::string& bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

} // namespace

TEST(AgentProtocol, FramesRoundTripWithBinaryPayloads) {
    SocketPair s;
    Frame f;
    f.header = {{"op", "exec"}, {"cmd", {"a", "b"}}};
    f.payload = std::string("\0\xff\x01 bytes", 9);
    ASSERT_TRUE(write_frame(s.a.get(), f, soon()));
    auto got = read_frame(s.b.get(), soon());
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->header, f.header);
    EXPECT_EQ((*got)->payload, f.payload);
}

TEST(AgentProtocol, ACloseBetweenFramesIsNotAnError) {
    SocketPair s;
    s.a.reset();
    auto got = read_frame(s.b.get(), soon());
    ASSERT_TRUE(got);
    EXPECT_FALSE(got->has_value());
}

TEST(AgentProtocol, DamagedInputIsAnErrorWithAReason) {
    struct Case {
        std::string bytes;
        int errno_value;
    };
    std::vector<Case> cases{
        {prefix("XXXX", 2, 0) + "{}", EPROTO},
        {prefix("BRA1", kMaxHeader + 1, 0), EMSGSIZE},
        {prefix("BRA1", 2, 0xffffffffu), EMSGSIZE},
        {prefix("BRA1", 2, 0) + "[]", EPROTO},
        {prefix("BRA1", 3, 0) + "{x}", EPROTO},
        {prefix("BRA1", 10, 0) + "{}", ECONNRESET}, // closed mid-frame
    };
    for (const auto& c : cases) {
        SocketPair s;
        send_raw(s.a.get(), c.bytes);
        s.a.reset();
        auto got = read_frame(s.b.get(), soon());
        ASSERT_FALSE(got) << c.bytes;
        EXPECT_EQ(got.error().errno_value(), c.errno_value) << got.error().message();
    }
}

TEST(AgentProtocol, ASilentPeerTimesOut) {
    SocketPair s;
    send_raw(s.a.get(), prefix("BRA1", 2, 0)); // and never the header
    auto got = read_frame(s.b.get(), Clock::now() + std::chrono::milliseconds(100));
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().errno_value(), ETIMEDOUT);
}

TEST(AgentProtocol, OversizedFramesAreNotSent) {
    SocketPair s;
    Frame f;
    f.payload.assign(kMaxPayload + 1, 'x');
    auto sent = write_frame(s.a.get(), f, soon());
    ASSERT_FALSE(sent);
    EXPECT_EQ(sent.error().errno_value(), EMSGSIZE);
}
