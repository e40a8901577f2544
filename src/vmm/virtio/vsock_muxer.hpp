// The vsock connection engine: routes guest packets to host Unix sockets and
// host bytes to guest packets, one state machine per connection. It knows
// nothing of virtqueues: the device hands it each packet the guest sent and
// asks it for the next packet to put in a guest receive buffer. It is not
// thread-safe; the device serialises calls.
//
// Hostile guests and host programs get an RST or a closed socket, never a
// crash or unbounded memory: control packets queue up to a bound, host bytes
// are read only into guest buffers and only within the guest's credit, guest
// bytes only within the credit we advertise, connections are capped.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/virtio/vsock_connection.hpp"
#include "vmm/virtio/vsock_host_socket.hpp"
#include "vmm/virtio/vsock_packet.hpp"

namespace brood::vsock {

struct MuxerConfig {
    uint64_t guest_cid = 0;
    std::string socket_path;
    size_t max_connections = 512;    // live and half-open connections together
    size_t max_pending_clients = 64; // host programs still writing CONNECT
    std::chrono::milliseconds connect_line_timeout{5000};
    std::chrono::milliseconds guest_response_timeout{5000};
    std::chrono::milliseconds close_timeout{2000};
};

struct Packet {
    Header header;
    std::vector<uint8_t> data;
};

class Muxer final {
public:
    // The largest payload one packet carries towards the guest (Linux's size).
    static constexpr size_t kMaxPayload = 64 * 1024;
    // Control packets waiting for guest buffers; more are dropped.
    static constexpr size_t kMaxControlQueue = 4096;

    static Result<std::unique_ptr<Muxer>> create(MuxerConfig config);
    ~Muxer();
    Muxer(const Muxer&) = delete;
    Muxer& operator=(const Muxer&) = delete;

    // One descriptor for the device's I/O loop: readable when a host socket
    // needs attention.
    int poll_fd() const { return _epoll.get(); }

    uint64_t guest_cid() const { return _config.guest_cid; }
    void set_guest_cid(uint64_t cid) { _config.guest_cid = cid; }

    // A packet the guest sent (tx queue). `payload` is what followed the header.
    void from_guest(const Header& h, std::span<const uint8_t> payload);

    // True when next_for_guest() has something (a control packet or a host
    // socket to read).
    bool has_rx() const { return !_control.empty() || !_rx_ready.empty(); }
    // The next packet for a guest receive buffer with room for `max_payload`
    // bytes after the header; nullopt when there is nothing after all.
    std::optional<Packet> next_for_guest(size_t max_payload);

    // Serves ready host sockets: accepts, CONNECT lines, writes, readiness.
    void poll_host(Clock::time_point now);
    // Expires CONNECT lines, unanswered REQUESTs and unfinished closes.
    void expire(Clock::time_point now);
    std::optional<Clock::time_point> next_deadline() const;

    // Drops every connection and closes its host socket, telling the guest
    // nothing (it hears of it through a transport reset event).
    void reset();

    size_t connection_count() const { return _conns.size(); }
    size_t pending_client_count() const { return _pending.size(); }

private:
    Muxer(MuxerConfig config, HostListener listener, UniqueFd epoll);

    Connection* find(ConnKey key);
    void host_request(PendingClient& client, uint32_t port, Clock::time_point now);
    void guest_request(const Header& h);
    void on_connection_packet(Connection& c, const Header& h, std::span<const uint8_t> payload);
    void guest_data(Connection& c, std::span<const uint8_t> payload);
    void guest_shutdown(Connection& c, uint32_t flags, Clock::time_point now);
    void after_flush(Connection& c);
    void host_event(Connection& c, uint32_t events);
    void accept_clients(Clock::time_point now);
    void pending_readable(uint64_t token, Clock::time_point now);

    // A packet for the guest, from the host side of a connection.
    Header header_for(ConnKey key, Op op, uint32_t flags = 0) const;
    void queue(Header h);
    void reply_rst(const Header& to);
    // Removes a connection; `rst` tells the guest.
    void kill(ConnKey key, bool rst);
    void close_gracefully(Connection& c, uint32_t flags, Clock::time_point now);
    void rearm(Connection& c);
    void watch(int fd, uint64_t token, uint32_t events);
    void pause_listener(bool paused);
    Packet pop_control();
    void mark_readable(Connection& c);
    uint32_t allocate_local_port();
    bool at_capacity() const { return _conns.size() + _pending.size() >= _config.max_connections; }

    MuxerConfig _config;
    HostListener _listener;
    UniqueFd _epoll;
    bool _listener_paused = false; // out of descriptors: stop accepting for now
    // Poll-set tokens name sockets: a stale event never reaches a socket
    // that reused a closed one's descriptor. Token 0 is the listener.
    uint64_t _next_token = 1;
    std::map<ConnKey, std::unique_ptr<Connection>> _conns;
    std::map<uint64_t, ConnKey> _by_token;
    std::map<uint64_t, PendingClient> _pending;
    std::deque<Header> _control;
    std::deque<ConnKey> _rx_ready;
    uint32_t _next_local_port = kFirstLocalPort;
    static constexpr uint32_t kFirstLocalPort = 1u << 30;
};

} // namespace brood::vsock
