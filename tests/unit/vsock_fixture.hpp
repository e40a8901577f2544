// The vsock engine with the virtqueues faked: the test plays the guest by
// handing the engine packets and taking what it would put in rx buffers,
// and plays host programs with real Unix sockets.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"
#include "vmm/virtio/vsock_muxer.hpp"

namespace brood::vsock {

class VsockTest : public ::testing::Test {
protected:
    static constexpr uint64_t kCid = 7;
    static constexpr uint32_t kGuestBuf = 64 * 1024;

    void SetUp() override {
        char tmpl[] = "/tmp/brood-vsock-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        start();
    }
    void TearDown() override {
        muxer.reset();
        std::filesystem::remove_all(dir);
    }
    void start() {
        MuxerConfig config;
        config.guest_cid = kCid;
        config.socket_path = dir + "/v.sock";
        config.max_connections = max_connections;
        config.max_pending_clients = max_pending;
        config.connect_line_timeout = std::chrono::milliseconds(200);
        config.guest_response_timeout = std::chrono::milliseconds(200);
        config.close_timeout = std::chrono::milliseconds(200);
        auto m = Muxer::create(config);
        ASSERT_TRUE(m) << m.error().message();
        muxer = std::move(*m);
    }

    // A packet from the guest, with the guest's credit figures.
    Header guest(Op op, uint32_t src_port, uint32_t dst_port, uint32_t flags = 0) {
        Header h;
        h.src_cid = kCid;
        h.dst_cid = kHostCid;
        h.src_port = src_port;
        h.dst_port = dst_port;
        h.op = static_cast<uint16_t>(op);
        h.flags = flags;
        h.buf_alloc = guest_buf_alloc;
        h.fwd_cnt = guest_fwd_cnt;
        return h;
    }
    void send(Header h, const std::string& data = {}) {
        h.len = static_cast<uint32_t>(data.size());
        muxer->from_guest(h, std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
    }
    // Serves the host sockets (waiting briefly for them), then takes every
    // packet the guest would receive.
    std::vector<Packet> drain(size_t max_payload = 4096, int wait_ms = 50) {
        pollfd p{muxer->poll_fd(), POLLIN, 0};
        for (int wait = wait_ms; ::poll(&p, 1, wait) > 0; wait = 10) muxer->poll_host(Clock::now());
        std::vector<Packet> out;
        while (auto pkt = muxer->next_for_guest(max_payload)) out.push_back(std::move(*pkt));
        return out;
    }
    static std::string text(const Packet& p) { return std::string(p.data.begin(), p.data.end()); }

    UniqueFd host_dial() {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::string path = dir + "/v.sock";
        std::memcpy(addr.sun_path, path.data(), path.size());
        if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) return {};
        return fd;
    }
    UniqueFd host_listen(uint32_t port) {
        UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::string path = dir + "/v.sock_" + std::to_string(port);
        std::memcpy(addr.sun_path, path.data(), path.size());
        EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        EXPECT_EQ(::listen(fd.get(), 64), 0);
        return fd;
    }
    static void write_all(int fd, const std::string& s) {
        ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
    }
    // What arrives within `wait_ms`, up to `max` bytes; "<eof>" at end of stream.
    static std::string read_some(int fd, size_t max = 65536, int wait_ms = 500) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, wait_ms) <= 0) return "";
        std::string buf(max, '\0');
        ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n == 0) return "<eof>";
        if (n < 0) return "<error>";
        buf.resize(static_cast<size_t>(n));
        return buf;
    }
    static bool closed(int fd) {
        std::string got = read_some(fd);
        return got == "<eof>" || got == "<error>";
    }

    // Host program connects to guest port `port`; the guest accepts. Returns
    // the host socket and the host-side port of the connection.
    std::pair<UniqueFd, uint32_t> host_connects(uint32_t port, uint32_t guest_port_seen = 0) {
        UniqueFd fd = host_dial();
        EXPECT_TRUE(fd);
        write_all(fd.get(), "CONNECT " + std::to_string(port) + "\n");
        auto pkts = drain();
        EXPECT_EQ(pkts.size(), 1u);
        if (pkts.empty()) return {std::move(fd), 0};
        const Header& req = pkts[0].header;
        EXPECT_EQ(req.op, static_cast<uint16_t>(Op::request));
        EXPECT_EQ(req.dst_port, port);
        send(guest(Op::response, port, req.src_port));
        (void)guest_port_seen;
        std::string ok = read_some(fd.get());
        EXPECT_EQ(ok, "OK " + std::to_string(req.src_port) + "\n");
        return {std::move(fd), req.src_port};
    }

    size_t max_connections = 16;
    size_t max_pending = 4;
    uint32_t guest_buf_alloc = kGuestBuf;
    uint32_t guest_fwd_cnt = 0;
    std::string dir;
    std::unique_ptr<Muxer> muxer;
};

} // namespace brood::vsock
