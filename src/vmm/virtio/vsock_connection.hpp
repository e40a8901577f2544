// One vsock stream between a guest port and a host Unix socket: its state,
// both directions of credit-based flow control, and the host socket I/O.
// Host bytes are never buffered here: they are read straight into a packet
// for the guest, and only as many as the guest's credit allows. Guest bytes
// the host socket cannot take yet wait in a buffer that the credit we
// advertise bounds (kBufAlloc).
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <vector>

#include "common/unique_fd.hpp"
#include "vmm/virtio/vsock_packet.hpp"

namespace brood::vsock {

using Clock = std::chrono::steady_clock;

enum class ConnState {
    connecting,  // the host asked; a REQUEST went to the guest, no RESPONSE yet
    established, // data flows
    closing,     // both sides are done; waiting for the guest's RST
};

struct ConnKey {
    uint32_t local_port; // the host side's port
    uint32_t peer_port;  // the guest side's port
    auto operator<=>(const ConnKey&) const = default;
};

class Connection final {
public:
    // What the host side may hold of guest data, and the credit it advertises.
    static constexpr uint32_t kBufAlloc = 256 * 1024;

    Connection(UniqueFd host, ConnKey key, ConnState state);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    int fd() const { return _host.get(); }
    ConnKey key() const { return _key; }
    ConnState state() const { return _state; }
    void set_state(ConnState s) { _state = s; }
    Clock::time_point deadline() const { return _deadline; }
    void set_deadline(Clock::time_point t) { _deadline = t; }

    // ---- host -> guest ----
    // Every guest packet carries its receive buffer size and how much of our
    // data it has consumed.
    void peer_credit_from(const Header& h);
    // What the guest can take now; 0 when its figures make no sense (it
    // claims to have consumed more than we sent).
    uint32_t peer_credit() const;
    enum class Read { data, would_block, eof, error };
    struct ReadResult {
        Read what;
        size_t bytes = 0;
    };
    // Reads at most `into.size()` host bytes (the caller bounds it by credit).
    ReadResult read_host(std::span<uint8_t> into);
    void sent_to_guest(uint32_t bytes) { _rx_cnt += bytes; }

    // ---- guest -> host ----
    enum class Write { ok, credit_exceeded, host_gone };
    // Forwards what the host socket takes now and keeps the rest.
    Write from_guest(std::span<const uint8_t> bytes);
    // Writes what waits; host_gone when the host socket broke.
    Write flush();
    bool has_pending() const { return !_pending.empty(); }
    // Our figures, stamped on each packet to the guest, which then counts on them.
    uint32_t fwd_cnt() const { return _fwd_cnt; }
    void stamp(Header& h);
    // The guest should hear of the room we freed (a CREDIT_UPDATE) when much
    // of its credit was used and is free again.
    bool credit_update_due() const;

    // ---- shutdown bookkeeping ----
    uint32_t guest_shutdown = 0; // kShutdown* flags the guest sent
    bool host_eof = false;       // the host will send no more
    bool host_write_shut = false;
    bool host_hup = false;       // the host socket hung up; it left the poll set
    bool in_rx_ready = false;    // queued for a read towards the guest
    bool credit_stalled = false; // the host has data, the guest has no room
    uint32_t epoll_events = 0;   // what the poll set watches now
    uint64_t token = 0;          // its name in the poll set

private:
    UniqueFd _host;
    ConnKey _key;
    ConnState _state;
    Clock::time_point _deadline{};
    // Peer (guest) figures.
    uint32_t _peer_buf_alloc = 0;
    uint32_t _peer_fwd_cnt = 0;
    uint32_t _rx_cnt = 0; // bytes sent to the guest
    // Ours.
    uint32_t _tx_cnt = 0;             // bytes received from the guest
    uint32_t _fwd_cnt = 0;            // of those, written to the host
    uint32_t _reported_fwd_cnt = 0;   // the fwd_cnt last stamped on a packet
    std::vector<uint8_t> _pending;    // from the guest, not yet written
};

} // namespace brood::vsock
