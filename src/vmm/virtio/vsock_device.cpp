#include "vmm/virtio/vsock_device.hpp"

#include <sys/epoll.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace brood::virtio {
namespace {

using vsock::Clock;
using vsock::Header;

Result<void> check_cid(uint64_t cid) {
    if (cid < vsock::kMinGuestCid || cid > vsock::kMaxGuestCid)
        return fail(fmt::format("vsock CID must be between {} and {}, got {}", vsock::kMinGuestCid,
                                vsock::kMaxGuestCid, cid));
    return {};
}

} // namespace

void VsockStateCodec::encode(const State& s, snapshot::ByteWriter& w) { w.u64(s.guest_cid); }

Result<VsockState> VsockStateCodec::decode(snapshot::ByteReader& r, uint32_t) {
    VsockState s;
    s.guest_cid = TRY(r.u64());
    TRY_CTX(check_cid(s.guest_cid), "vsock section");
    return s;
}

Result<std::unique_ptr<VsockDevice>> VsockDevice::create(VsockConfig config) {
    bool from_command_line = config.guest_cid != 0;
    if (from_command_line) TRY(check_cid(config.guest_cid));
    vsock::MuxerConfig mc;
    mc.guest_cid = from_command_line ? config.guest_cid : vsock::kMinGuestCid; // a restore sets the saved one
    mc.socket_path = config.socket_path;
    auto muxer = TRY(vsock::Muxer::create(std::move(mc)));
    UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!timer) return fail_errno("timerfd_create");
    std::unique_ptr<VsockDevice> d(new VsockDevice(std::move(config), std::move(muxer), std::move(timer)));
    d->_cid_from_command_line = from_command_line;
    return d;
}

VsockDevice::VsockDevice(VsockConfig config, std::unique_ptr<vsock::Muxer> muxer, UniqueFd timer)
    : _config(std::move(config)), _cid(muxer->guest_cid()), _muxer(std::move(muxer)), _timer(std::move(timer)) {}

VsockDevice::~VsockDevice() = default;

void VsockDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
    // struct virtio_vsock_config { le64 guest_cid; }
    uint8_t config[8];
    uint64_t cid = _cid.load();
    for (size_t i = 0; i < 8; ++i) config[i] = static_cast<uint8_t>(cid >> (8 * i));
    for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < sizeof(config) ? config[offset + i] : 0;
}

Result<void> VsockDevice::activate(DeviceContext& context, uint64_t) {
    _context = &context;
    TRY(context.watch_fd(_muxer->poll_fd(), EPOLLIN, [this](uint32_t) { on_host_ready(); }));
    if (auto ok = context.watch_fd(_timer.get(), EPOLLIN, [this](uint32_t) { on_timer(); }); !ok) {
        context.unwatch_fd(_muxer->poll_fd());
        return ok;
    }
    // Host programs may have connected before the driver was up.
    after_host_work();
    return {};
}

void VsockDevice::reset() {
    if (_context) {
        _context->unwatch_fd(_muxer->poll_fd());
        _context->unwatch_fd(_timer.get());
    }
    _context = nullptr;
    _muxer->reset();
    _reset_event_pending = false; // a reset driver starts with no connections
    _reset_ack_deadline.reset();
    arm_timer();
}

Result<void> VsockDevice::quiesce() {
    // Host connections cannot be saved, and a paused guest cannot answer
    // them: close them now; the guest hears of it when it runs again.
    if (_muxer->connection_count() > 0 || _muxer->pending_client_count() > 0) _reset_event_pending = true;
    _muxer->reset();
    arm_timer();
    return {};
}

Result<void> VsockDevice::process_queue(uint16_t index) {
    if (!_context) return {};
    auto ok = [&]() -> Result<void> {
        if (index == kTxQueue) TRY(process_tx());
        TRY(send_reset_event());
        TRY(check_reset_handled());
        TRY(fill_rx());
        return {};
    }();
    if (!ok) {
        // The transport stops the device until the driver resets it: the
        // host side stops too, so its sockets neither wait nor spin.
        _context->unwatch_fd(_muxer->poll_fd());
        _context->unwatch_fd(_timer.get());
        _muxer->reset();
    }
    arm_timer();
    return ok;
}

Result<void> VsockDevice::process_tx() {
    Queue& q = _context->queue(kTxQueue);
    GuestMemory& memory = _context->memory();
    bool used = false;
    std::vector<uint8_t> payload;
    while (auto chain = TRY(q.pop())) {
        Header::Bytes raw{};
        if (chain->readable_len() >= Header::kSize) {
            TRY(chain->read(memory, 0, raw));
            Header h = *Header::decode(raw);
            // The payload is what the header says follows it, if the chain
            // holds it; otherwise the engine sees a short payload and resets.
            uint64_t room = chain->readable_len() - Header::kSize;
            size_t take = h.len <= room && h.len <= vsock::Muxer::kMaxPayload ? h.len : 0;
            payload.resize(take);
            TRY(chain->read(memory, Header::kSize, payload));
            _muxer->from_guest(h, payload);
        } else {
            spdlog::debug("vsock: tx buffer of {} bytes holds no header; dropped", chain->readable_len());
        }
        TRY(q.push_used(chain->head(), 0));
        used = true;
    }
    if (used) _context->signal_used(kTxQueue);
    return {};
}

Result<void> VsockDevice::fill_rx() {
    if (_reset_ack_deadline) return {}; // the guest still holds connections the reset will drop
    Queue& q = _context->queue(kRxQueue);
    GuestMemory& memory = _context->memory();
    bool used = false;
    while (_muxer->has_rx() && TRY(q.has_available())) {
        auto chain = TRY(q.pop());
        if (!chain) break;
        uint64_t room = chain->writable_len();
        uint32_t written = 0;
        if (room >= Header::kSize) {
            size_t max_payload = static_cast<size_t>(std::min<uint64_t>(room - Header::kSize, vsock::Muxer::kMaxPayload));
            if (auto packet = _muxer->next_for_guest(max_payload)) {
                packet->header.len = static_cast<uint32_t>(packet->data.size());
                TRY(chain->write(memory, 0, packet->header.encode()));
                TRY(chain->write(memory, Header::kSize, packet->data));
                written = static_cast<uint32_t>(Header::kSize + packet->data.size());
            }
        }
        // A buffer too small for a header, or nothing to send after all
        // (the host socket had no data): it goes back empty, and the guest
        // driver drops it.
        TRY(q.push_used(chain->head(), written));
        used = true;
        if (written == 0) break;
    }
    if (used) _context->signal_used(kRxQueue);
    return {};
}

Result<void> VsockDevice::send_reset_event() {
    if (!_reset_event_pending) return {};
    Queue& q = _context->queue(kEventQueue);
    auto chain = TRY(q.pop());
    if (!chain) return {}; // sent once the driver posts an event buffer
    uint32_t written = 0;
    if (chain->writable_len() >= 4) {
        uint8_t event[4] = {}; // struct virtio_vsock_event { le32 id; }, id TRANSPORT_RESET = 0
        static_assert(vsock::kEventTransportReset == 0);
        TRY(chain->write(_context->memory(), 0, event));
        written = 4;
        _reset_event_pending = false;
    }
    TRY(q.push_used(chain->head(), written));
    if (written != 0) {
        _reset_ack_avail_idx = TRY(q.avail_idx());
        _reset_ack_deadline = Clock::now() + kResetAckTimeout;
    }
    _context->signal_used(kEventQueue);
    return {};
}

Result<void> VsockDevice::check_reset_handled() {
    if (!_reset_ack_deadline) return {};
    // A driver posts its event buffer again once it has handled the event.
    const bool reposted = TRY(_context->queue(kEventQueue).avail_idx()) != _reset_ack_avail_idx;
    if (reposted || Clock::now() >= *_reset_ack_deadline) {
        if (!reposted) spdlog::debug("vsock: the guest did not answer the transport reset; carrying on");
        _reset_ack_deadline.reset();
    }
    return {};
}

void VsockDevice::after_host_work() {
    if (_context && (_muxer->has_rx() || _reset_event_pending)) _context->kick(kRxQueue);
    arm_timer();
}

void VsockDevice::on_host_ready() {
    _muxer->poll_host(Clock::now());
    after_host_work();
}

void VsockDevice::on_timer() {
    uint64_t expirations;
    (void)!::read(_timer.get(), &expirations, sizeof(expirations));
    _muxer->expire(Clock::now());
    if (_context && _reset_ack_deadline) _context->kick(kRxQueue); // maybe the reset's wait is over
    after_host_work();
}

void VsockDevice::arm_timer() {
    itimerspec spec{};
    auto deadline = _muxer->next_deadline();
    if (_reset_ack_deadline && (!deadline || *_reset_ack_deadline < *deadline)) deadline = _reset_ack_deadline;
    if (deadline) {
        auto left = std::max(*deadline - Clock::now(), Clock::duration(std::chrono::milliseconds(1)));
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
        spec.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
        spec.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    }
    ::timerfd_settime(_timer.get(), 0, &spec, nullptr);
}

std::vector<uint8_t> VsockDevice::save_state() const {
    snapshot::ByteWriter w;
    VsockStateCodec::encode(VsockState{_cid.load()}, w);
    return std::move(w.bytes());
}

Result<void> VsockDevice::restore_state(std::span<const uint8_t> bytes, uint32_t version) {
    snapshot::ByteReader r(bytes, "vsock section");
    auto state = TRY(VsockStateCodec::decode(r, version));
    if (r.remaining() != 0) return fail("vsock section has trailing bytes");
    // A restored machine may be a fork with a CID of its own.
    uint64_t cid = _cid_from_command_line ? _cid.load() : state.guest_cid;
    _cid = cid;
    _muxer->set_guest_cid(cid);
    _muxer->reset();
    // Whatever the guest had open belongs to the machine that was saved.
    _reset_event_pending = true;
    return {};
}

} // namespace brood::virtio
