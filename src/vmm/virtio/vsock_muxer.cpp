#include "vmm/virtio/vsock_muxer.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace brood::vsock {
namespace {
constexpr uint64_t kListenerToken = 0;
} // namespace

Result<std::unique_ptr<Muxer>> Muxer::create(MuxerConfig config) {
    if (config.guest_cid < kMinGuestCid || config.guest_cid > kMaxGuestCid)
        return fail(fmt::format("vsock CID must be between {} and {}, got {}", kMinGuestCid, kMaxGuestCid,
                                config.guest_cid));
    auto listener = TRY(HostListener::open(config.socket_path));
    UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll) return fail_errno("epoll_create1");
    std::unique_ptr<Muxer> m(new Muxer(std::move(config), std::move(listener), std::move(epoll)));
    m->watch(m->_listener.fd(), kListenerToken, EPOLLIN);
    return m;
}

Muxer::Muxer(MuxerConfig config, HostListener listener, UniqueFd epoll)
    : _config(std::move(config)), _listener(std::move(listener)), _epoll(std::move(epoll)) {}

Muxer::~Muxer() = default;

void Muxer::watch(int fd, uint64_t token, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = token;
    if (::epoll_ctl(_epoll.get(), EPOLL_CTL_ADD, fd, &ev) < 0 && errno == EEXIST)
        ::epoll_ctl(_epoll.get(), EPOLL_CTL_MOD, fd, &ev);
}

void Muxer::pause_listener(bool paused) {
    if (paused == _listener_paused) return;
    _listener_paused = paused;
    watch(_listener.fd(), kListenerToken, paused ? 0u : uint32_t{EPOLLIN});
}

Connection* Muxer::find(ConnKey key) {
    auto it = _conns.find(key);
    return it == _conns.end() ? nullptr : it->second.get();
}

Header Muxer::header_for(ConnKey key, Op op, uint32_t flags) const {
    Header h;
    h.src_cid = kHostCid;
    h.dst_cid = _config.guest_cid;
    h.src_port = key.local_port;
    h.dst_port = key.peer_port;
    h.type = kTypeStream;
    h.op = static_cast<uint16_t>(op);
    h.flags = flags;
    return h;
}

void Muxer::queue(Header h) {
    if (_control.size() >= kMaxControlQueue) {
        spdlog::debug("vsock: guest takes no packets; dropped {}", describe(h));
        return;
    }
    _control.push_back(h);
}

void Muxer::reply_rst(const Header& to) {
    if (to.op == static_cast<uint16_t>(Op::rst)) return; // never answer an RST
    Header r;
    r.src_cid = to.dst_cid;
    r.dst_cid = to.src_cid;
    r.src_port = to.dst_port;
    r.dst_port = to.src_port;
    r.type = kTypeStream;
    r.op = static_cast<uint16_t>(Op::rst);
    queue(r);
}

void Muxer::kill(ConnKey key, bool rst) {
    auto it = _conns.find(key);
    if (it == _conns.end()) return;
    if (rst) queue(header_for(key, Op::rst));
    _by_token.erase(it->second->token);
    _conns.erase(it); // closing the socket takes it out of the poll set
    pause_listener(false);
}

void Muxer::rearm(Connection& c) {
    if (c.host_hup) return; // out of the poll set for good
    uint32_t want = 0;
    bool may_read = c.state() == ConnState::established && !c.host_eof && !(c.guest_shutdown & kShutdownRcv);
    if (may_read && !c.in_rx_ready && !c.credit_stalled) want |= EPOLLIN;
    if (c.has_pending()) want |= EPOLLOUT;
    if (want == c.epoll_events) return;
    c.epoll_events = want;
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = c.token;
    ::epoll_ctl(_epoll.get(), EPOLL_CTL_MOD, c.fd(), &ev);
}

void Muxer::mark_readable(Connection& c) {
    if (c.in_rx_ready || c.state() != ConnState::established || c.host_eof || (c.guest_shutdown & kShutdownRcv))
        return rearm(c);
    if (c.peer_credit() == 0) {
        // Ask once; the guest's next packet carries its credit anyway.
        if (!c.credit_stalled) queue(header_for(c.key(), Op::credit_request));
        c.credit_stalled = true;
        return rearm(c);
    }
    c.in_rx_ready = true;
    _rx_ready.push_back(c.key());
    rearm(c);
}

void Muxer::close_gracefully(Connection& c, uint32_t flags, Clock::time_point now) {
    queue(header_for(c.key(), Op::shutdown, flags));
    c.set_state(ConnState::closing);
    c.set_deadline(now + _config.close_timeout);
    c.in_rx_ready = false;
    rearm(c);
}

uint32_t Muxer::allocate_local_port() {
    for (size_t tries = 0; tries <= _conns.size(); ++tries) {
        uint32_t port = _next_local_port;
        _next_local_port = port == UINT32_MAX ? kFirstLocalPort : port + 1;
        auto it = _conns.lower_bound(ConnKey{port, 0});
        if (it == _conns.end() || it->first.local_port != port) return port;
    }
    return _next_local_port; // unreachable: there are fewer connections than ports
}

// ---- guest -> host ----

void Muxer::from_guest(const Header& h, std::span<const uint8_t> payload) {
    if (h.src_cid != _config.guest_cid) {
        // Nobody to answer: the guest does not own that address.
        spdlog::debug("vsock: dropped a packet from foreign CID: {}", describe(h));
        return;
    }
    if (h.dst_cid != kHostCid) return reply_rst(h);
    ConnKey key{h.dst_port, h.src_port};
    if (h.type != kTypeStream || h.len != payload.size()) {
        // A malformed packet ends the connection it names, if any.
        if (find(key)) return kill(key, true);
        return reply_rst(h);
    }
    if (h.op == static_cast<uint16_t>(Op::request)) return guest_request(h);
    Connection* c = find(key);
    if (!c) return reply_rst(h);
    on_connection_packet(*c, h, payload);
}

void Muxer::guest_request(const Header& h) {
    ConnKey key{h.dst_port, h.src_port};
    if (find(key)) {
        kill(key, true); // a second REQUEST on a live connection: the guest lost track
        return;
    }
    if (at_capacity()) return reply_rst(h);
    UniqueFd fd = connect_unix(guest_connect_path(_config.socket_path, h.dst_port));
    if (!fd) return reply_rst(h); // nobody listens on the host for that port
    auto conn = std::make_unique<Connection>(std::move(fd), key, ConnState::established);
    Connection& c = *conn;
    c.peer_credit_from(h);
    c.token = _next_token++;
    _by_token[c.token] = key;
    _conns[key] = std::move(conn);
    watch(c.fd(), c.token, 0);
    Header response = header_for(key, Op::response);
    queue(response);
    rearm(c);
}

void Muxer::on_connection_packet(Connection& c, const Header& h, std::span<const uint8_t> payload) {
    ConnKey key = c.key();
    auto now = Clock::now();
    c.peer_credit_from(h);
    switch (static_cast<Op>(h.op)) {
    case Op::response: {
        if (c.state() != ConnState::connecting) return kill(key, true);
        c.set_state(ConnState::established);
        std::string ok = fmt::format("OK {}\n", key.local_port);
        if (::send(c.fd(), ok.data(), ok.size(), MSG_DONTWAIT | MSG_NOSIGNAL) != static_cast<ssize_t>(ok.size()))
            return kill(key, true);
        break;
    }
    case Op::rst:
        return kill(key, false);
    case Op::rw:
        guest_data(c, payload);
        break;
    case Op::shutdown:
        guest_shutdown(c, h.flags, now);
        break;
    case Op::credit_update:
        break;
    case Op::credit_request:
        queue(header_for(key, Op::credit_update));
        break;
    default:
        return kill(key, true);
    }
    Connection* still = find(key);
    if (!still) return;
    if (still->credit_stalled && still->peer_credit() > 0) {
        still->credit_stalled = false;
        mark_readable(*still);
    }
    rearm(*still);
}

void Muxer::guest_data(Connection& c, std::span<const uint8_t> payload) {
    if (c.state() == ConnState::closing) return; // the host side is gone; the RST is on its way
    if (c.state() != ConnState::established || (c.guest_shutdown & kShutdownSend) || c.host_write_shut)
        return kill(c.key(), true);
    if (payload.empty()) return;
    if (c.host_hup) return kill(c.key(), true);
    switch (c.from_guest(payload)) {
    case Connection::Write::credit_exceeded:
        spdlog::debug("vsock: guest port {} sent beyond its credit; reset", c.key().peer_port);
        return kill(c.key(), true);
    case Connection::Write::host_gone:
        return kill(c.key(), true);
    case Connection::Write::ok:
        return after_flush(c);
    }
}

void Muxer::guest_shutdown(Connection& c, uint32_t flags, Clock::time_point now) {
    if (c.state() == ConnState::connecting) return kill(c.key(), true);
    c.guest_shutdown |= flags & kShutdownBoth;
    if (c.guest_shutdown & kShutdownRcv) c.in_rx_ready = false, c.credit_stalled = false;
    if (c.guest_shutdown == kShutdownBoth) {
        // Forward what is still buffered, then answer with the RST a full
        // shutdown asks for; a host that never drains it times out.
        if (c.state() != ConnState::closing) c.set_deadline(now + _config.close_timeout);
        c.set_state(ConnState::closing);
    }
    after_flush(c);
}

void Muxer::after_flush(Connection& c) {
    if (!c.has_pending()) {
        if (c.guest_shutdown == kShutdownBoth) return kill(c.key(), true);
        if ((c.guest_shutdown & kShutdownSend) && !c.host_write_shut) {
            ::shutdown(c.fd(), SHUT_WR);
            c.host_write_shut = true;
            if (c.host_eof) return close_gracefully(c, kShutdownBoth, Clock::now());
        }
    }
    if (c.credit_update_due()) queue(header_for(c.key(), Op::credit_update));
    rearm(c);
}

// ---- host -> guest ----

bool Muxer::has_rx() {
    if (!_control.empty()) return true;
    // Drop queued reads that have nothing to do any more, so a guest buffer
    // is taken only for a packet.
    while (!_rx_ready.empty()) {
        Connection* c = find(_rx_ready.front());
        bool live = c && c->in_rx_ready && c->state() == ConnState::established && !c->host_eof &&
                    !(c->guest_shutdown & kShutdownRcv) && c->peer_credit() > 0;
        if (live) return true;
        _rx_ready.pop_front();
        if (c && c->in_rx_ready) {
            c->in_rx_ready = false;
            mark_readable(*c); // asks for credit, or waits for the socket again
            if (!_control.empty()) return true;
        }
    }
    return false;
}

Packet Muxer::pop_control() {
    Header h = _control.front();
    _control.pop_front();
    if (Connection* c = find(ConnKey{h.src_port, h.dst_port}); c && h.src_cid == kHostCid) c->stamp(h);
    else h.buf_alloc = Connection::kBufAlloc;
    return Packet{h, {}};
}

std::optional<Packet> Muxer::next_for_guest(size_t max_payload) {
    while (true) {
        if (!_control.empty()) return pop_control();
        if (_rx_ready.empty() || max_payload == 0) return std::nullopt;
        ConnKey key = _rx_ready.front();
        _rx_ready.pop_front();
        Connection* c = find(key);
        if (!c || !c->in_rx_ready) continue;
        c->in_rx_ready = false;
        if (c->state() != ConnState::established || c->host_eof || (c->guest_shutdown & kShutdownRcv)) {
            rearm(*c);
            continue;
        }
        size_t want = std::min<size_t>({max_payload, c->peer_credit(), kMaxPayload});
        if (want == 0) {
            mark_readable(*c); // stalls on credit and asks for it
            continue;
        }
        std::vector<uint8_t> data(want);
        auto got = c->read_host(data);
        switch (got.what) {
        case Connection::Read::data: {
            data.resize(got.bytes);
            Header h = header_for(key, Op::rw);
            h.len = static_cast<uint32_t>(got.bytes);
            c->stamp(h);
            c->sent_to_guest(h.len);
            // A full read may have left more; a short one drained the socket.
            // A hung-up socket gets no more events: read on to its end.
            if (got.bytes == want || c->host_hup) {
                c->in_rx_ready = true;
                _rx_ready.push_back(key);
            }
            rearm(*c);
            return Packet{h, std::move(data)};
        }
        case Connection::Read::would_block:
            rearm(*c);
            continue;
        case Connection::Read::eof:
            c->host_eof = true;
            if (c->host_hup || (c->guest_shutdown & kShutdownSend)) close_gracefully(*c, kShutdownBoth, Clock::now());
            else {
                queue(header_for(key, Op::shutdown, kShutdownSend));
                rearm(*c);
            }
            continue;
        case Connection::Read::error:
            kill(key, true);
            continue;
        }
    }
}

// ---- host sockets ----

void Muxer::poll_host(Clock::time_point now) {
    epoll_event events[64];
    int n = ::epoll_wait(_epoll.get(), events, 64, 0);
    for (int i = 0; i < n; ++i) {
        uint64_t token = events[i].data.u64;
        uint32_t ev = events[i].events;
        if (token == kListenerToken) {
            accept_clients(now);
        } else if (_pending.count(token)) {
            if ((ev & (EPOLLHUP | EPOLLERR)) && !(ev & EPOLLIN)) _pending.erase(token);
            else pending_readable(token, now);
        } else if (auto it = _by_token.find(token); it != _by_token.end()) {
            if (Connection* c = find(it->second)) host_event(*c, ev);
        }
    }
}

void Muxer::accept_clients(Clock::time_point now) {
    for (int i = 0; i < 32; ++i) {
        UniqueFd fd = _listener.accept();
        if (!fd) {
            if (errno == EMFILE || errno == ENFILE) {
                spdlog::warn("vsock: out of file descriptors; not accepting until a connection closes");
                pause_listener(true);
            }
            return;
        }
        if (at_capacity() || _pending.size() >= _config.max_pending_clients) {
            spdlog::debug("vsock: connection limit reached; refused a host connection");
            continue; // closing it tells the host program
        }
        uint64_t token = _next_token++;
        watch(fd.get(), token, EPOLLIN);
        _pending[token] = PendingClient{std::move(fd), {}, now + _config.connect_line_timeout};
        pending_readable(token, now); // the line has often arrived already
    }
}

void Muxer::pending_readable(uint64_t token, Clock::time_point now) {
    PendingClient& client = _pending[token];
    switch (read_connect_line(client)) {
    case LineStatus::incomplete:
        return;
    case LineStatus::bad:
        _pending.erase(token);
        return;
    case LineStatus::complete:
        break;
    }
    auto port = parse_connect_line(client.line);
    if (!port) {
        spdlog::debug("vsock: bad CONNECT line from a host program");
        _pending.erase(token);
        return;
    }
    host_request(client, *port, now);
    _pending.erase(token);
}

void Muxer::host_request(PendingClient& client, uint32_t port, Clock::time_point now) {
    ConnKey key{allocate_local_port(), port};
    auto conn = std::make_unique<Connection>(std::move(client.fd), key, ConnState::connecting);
    Connection& c = *conn;
    c.set_deadline(now + _config.guest_response_timeout);
    c.token = _next_token++;
    _by_token[c.token] = key;
    _conns[key] = std::move(conn);
    // Same socket, new name: nothing is read until the guest answers.
    watch(c.fd(), c.token, 0);
    queue(header_for(key, Op::request));
}

void Muxer::host_event(Connection& c, uint32_t events) {
    ConnKey key = c.key();
    if (events & (EPOLLHUP | EPOLLERR)) {
        if (c.state() == ConnState::connecting) return kill(key, true);
        // A hung-up socket stays readable: take it out of the poll set and
        // read what is left through the guest's buffers.
        ::epoll_ctl(_epoll.get(), EPOLL_CTL_DEL, c.fd(), nullptr);
        c.host_hup = true;
        c.epoll_events = 0;
        if (c.state() == ConnState::closing) return;
        if (c.guest_shutdown & kShutdownRcv) return kill(key, true);
        if (c.host_eof) return close_gracefully(c, kShutdownBoth, Clock::now());
        return mark_readable(c);
    }
    if (events & EPOLLOUT) {
        if (c.flush() == Connection::Write::host_gone) return kill(key, true);
        after_flush(c);
        if (!find(key)) return;
    }
    if (events & EPOLLIN) mark_readable(c);
}

// ---- time and reset ----

void Muxer::expire(Clock::time_point now) {
    for (auto it = _pending.begin(); it != _pending.end();) {
        if (it->second.deadline <= now) it = _pending.erase(it);
        else ++it;
    }
    std::vector<ConnKey> late;
    for (const auto& [key, c] : _conns)
        if (c->state() != ConnState::established && c->deadline() <= now) late.push_back(key);
    for (ConnKey key : late) kill(key, true);
    pause_listener(false);
}

std::optional<Clock::time_point> Muxer::next_deadline() const {
    std::optional<Clock::time_point> first;
    auto consider = [&first](Clock::time_point t) {
        if (!first || t < *first) first = t;
    };
    for (const auto& [token, p] : _pending) consider(p.deadline);
    for (const auto& [key, c] : _conns)
        if (c->state() != ConnState::established) consider(c->deadline());
    return first;
}

void Muxer::reset() {
    _control.clear();
    _rx_ready.clear();
    _by_token.clear();
    _conns.clear();
    _pending.clear();
    pause_listener(false);
}

} // namespace brood::vsock
