#include "vmm/virtio/vsock_connection.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace brood::vsock {

Connection::Connection(UniqueFd host, ConnKey key, ConnState state)
    : _host(std::move(host)), _key(key), _state(state) {}

void Connection::peer_credit_from(const Header& h) {
    _peer_buf_alloc = h.buf_alloc;
    _peer_fwd_cnt = h.fwd_cnt;
}

uint32_t Connection::peer_credit() const {
    // Counters wrap at 2^32; the difference is what is in flight.
    uint32_t in_flight = _rx_cnt - _peer_fwd_cnt;
    if (in_flight > _peer_buf_alloc) return 0; // consumed more than sent, or shrank its buffer
    return _peer_buf_alloc - in_flight;
}

Connection::ReadResult Connection::read_host(std::span<uint8_t> into) {
    if (into.empty()) return {Read::would_block};
    ssize_t n = ::recv(_host.get(), into.data(), into.size(), MSG_DONTWAIT);
    if (n > 0) return {Read::data, static_cast<size_t>(n)};
    if (n == 0) return {Read::eof};
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return {Read::would_block};
    return {Read::error};
}

Connection::Write Connection::from_guest(std::span<const uint8_t> bytes) {
    // The guest may have in flight at most what we advertised, counted from
    // the fwd_cnt it last saw from us.
    uint64_t unacknowledged = static_cast<uint32_t>(_tx_cnt - _reported_fwd_cnt);
    if (unacknowledged + bytes.size() > kBufAlloc) return Write::credit_exceeded;
    _tx_cnt += static_cast<uint32_t>(bytes.size());
    _pending.insert(_pending.end(), bytes.begin(), bytes.end());
    return flush();
}

Connection::Write Connection::flush() {
    size_t done = 0;
    while (done < _pending.size()) {
        ssize_t n = ::send(_host.get(), _pending.data() + done, _pending.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        _pending.erase(_pending.begin(), _pending.begin() + static_cast<std::ptrdiff_t>(done));
        return Write::host_gone;
    }
    _pending.erase(_pending.begin(), _pending.begin() + static_cast<std::ptrdiff_t>(done));
    _fwd_cnt += static_cast<uint32_t>(done);
    return Write::ok;
}

void Connection::stamp(Header& h) {
    h.buf_alloc = kBufAlloc;
    h.fwd_cnt = _fwd_cnt;
    _reported_fwd_cnt = _fwd_cnt;
}

bool Connection::credit_update_due() const {
    return static_cast<uint32_t>(_fwd_cnt - _reported_fwd_cnt) >= kBufAlloc / 2;
}

} // namespace brood::vsock
