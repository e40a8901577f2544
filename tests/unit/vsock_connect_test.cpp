// connect_vsock, the host side of the CONNECT handshake, against a fake VMM.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "common/vsock_connect.hpp"

namespace brood {
namespace {

using std::chrono::milliseconds;

class VsockConnect : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/brood-vsock-connect-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        path = dir + "/v.sock";
        listener.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.data(), path.size());
        ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        ASSERT_EQ(::listen(listener.get(), 4), 0);
    }
    void TearDown() override {
        if (server.joinable()) server.join();
        std::filesystem::remove_all(dir);
    }
    // The fake VMM: reads the CONNECT line, then sends `reply` (or closes).
    void serve(std::string reply, bool close_at_once = false) {
        server = std::thread([this, reply, close_at_once] {
            UniqueFd c(::accept(listener.get(), nullptr, nullptr));
            char buf[64];
            ssize_t n = ::recv(c.get(), buf, sizeof(buf), 0);
            request.assign(buf, n > 0 ? static_cast<size_t>(n) : 0);
            if (close_at_once) return;
            (void)!::send(c.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
            // Hold the socket open until the client is done with it.
            (void)!::recv(c.get(), buf, sizeof(buf), 0);
        });
    }

    std::string dir, path, request;
    UniqueFd listener;
    std::thread server;
};

TEST_F(VsockConnect, ReturnsTheStreamRightAfterTheOkLine) {
    serve("OK 1073741824\nfirst bytes");
    auto fd = connect_vsock(path, 52, milliseconds(2000));
    ASSERT_TRUE(fd) << fd.error().message();
    char buf[32] = {};
    ASSERT_EQ(::recv(fd->get(), buf, 11, MSG_WAITALL), 11);
    EXPECT_EQ(std::string(buf), "first bytes") << "nothing after the newline was swallowed";
    fd->reset();
    server.join();
    EXPECT_EQ(request, "CONNECT 52\n");
}

TEST_F(VsockConnect, RefusalIsAnError) {
    serve("", true);
    auto fd = connect_vsock(path, 52, milliseconds(2000));
    ASSERT_FALSE(fd);
    EXPECT_EQ(fd.error().errno_value(), ECONNREFUSED);
    EXPECT_NE(fd.error().message().find("refused"), std::string::npos) << fd.error().message();
}

TEST_F(VsockConnect, ForeignAnswerIsAnError) {
    serve("HELLO\n");
    auto fd = connect_vsock(path, 52, milliseconds(2000));
    ASSERT_FALSE(fd);
    EXPECT_EQ(fd.error().errno_value(), EPROTO);
}

TEST_F(VsockConnect, EndlessAnswerIsAnError) {
    serve(std::string(100, 'O'));
    auto fd = connect_vsock(path, 52, milliseconds(2000));
    ASSERT_FALSE(fd);
    EXPECT_EQ(fd.error().errno_value(), EPROTO);
}

TEST_F(VsockConnect, SilenceTimesOut) {
    serve("");
    auto start = std::chrono::steady_clock::now();
    auto fd = connect_vsock(path, 52, milliseconds(200));
    ASSERT_FALSE(fd);
    EXPECT_EQ(fd.error().errno_value(), ETIMEDOUT);
    EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(200));
    ::shutdown(listener.get(), SHUT_RDWR);
}

TEST_F(VsockConnect, NoVmmIsAnError) {
    auto fd = connect_vsock(dir + "/nothing.sock", 52, milliseconds(200));
    ASSERT_FALSE(fd);
    EXPECT_NE(fd.error().message().find("connect"), std::string::npos) << fd.error().message();
}

} // namespace
} // namespace brood
