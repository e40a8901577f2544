// --net as brood-vmm reads it.
#include <fcntl.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "vmm/net_config.hpp"

namespace brood {
namespace {

TEST(NetConfig, TapOrFdAndAMac) {
    auto tap = parse_net_arg("tap=brood-1,mac=02:00:00:00:00:01");
    ASSERT_TRUE(tap) << tap.error().message();
    EXPECT_EQ(tap->tap, "brood-1");
    EXPECT_EQ(tap->fd, -1);
    EXPECT_EQ(format_mac(tap->mac), "02:00:00:00:00:01");
    auto fd = parse_net_arg("mac=02:00:00:00:00:02,fd=7");
    ASSERT_TRUE(fd);
    EXPECT_EQ(fd->fd, 7);
}

TEST(NetConfig, RefusesWhatItCannotUse) {
    for (const char* bad : {"", "tap=x", "mac=02:00:00:00:00:01", "tap=x,fd=3,mac=02:00:00:00:00:01",
                            "tap=a-name-far-too-long,mac=02:00:00:00:00:01", "fd=-1,mac=02:00:00:00:00:01",
                            "fd=3x,mac=02:00:00:00:00:01", "tap=x,mac=ff:ff:ff:ff:ff:ff", "tap=x,mac=02:00:00:00:00:01,up"})
        EXPECT_FALSE(parse_net_arg(bad)) << bad;
}

TEST(NetConfig, AnFdIsTakenOverAndMadeNonBlocking) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds), 0);
    UniqueFd peer(fds[1]);
    auto config = parse_net_arg("fd=" + std::to_string(fds[0]) + ",mac=02:00:00:00:00:03");
    ASSERT_TRUE(config);
    auto net = open_net(*config);
    ASSERT_TRUE(net) << net.error().message();
    EXPECT_EQ(format_mac((*net)->mac()), "02:00:00:00:00:03");
    EXPECT_TRUE(::fcntl(fds[0], F_GETFL) & O_NONBLOCK);
    net->reset(); // closes the fd it took
    EXPECT_EQ(::fcntl(fds[0], F_GETFD), -1);
}

} // namespace
} // namespace brood
