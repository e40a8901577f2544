#include "vmm/virtio/net.hpp"

#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace brood::virtio {

void NetStateCodec::encode(const State& s, snapshot::ByteWriter& w) { w.raw(s.mac.data(), s.mac.size()); }

Result<NetState> NetStateCodec::decode(snapshot::ByteReader& r, uint32_t version) {
    if (version != kVersion) return fail(fmt::format("virtio-net state version {} is not supported", version));
    NetState s;
    auto bytes = TRY(r.take(s.mac.size()));
    std::copy(bytes.begin(), bytes.end(), s.mac.begin());
    return s;
}

void Net::read_config(uint64_t offset, std::span<uint8_t> data) const {
    // struct virtio_net_config: mac[6]; the fields after it belong to
    // features this device does not offer.
    for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < _mac.size() ? _mac[offset + i] : 0;
}

Result<void> Net::activate(DeviceContext& context, uint64_t) {
    _context = &context;
    // The first readable event sends the device to the receive queue.
    watch_backend(true);
    return {};
}

void Net::reset() {
    watch_backend(false);
    _context = nullptr;
    _frame.clear();
}

Result<void> Net::process_queue(uint16_t index) {
    if (!_context) return {};
    if (index == kTxQueue) return process_tx();
    if (index == kRxQueue) return process_rx();
    return {};
}

Result<void> Net::process_tx() {
    Queue& q = _context->queue(kTxQueue);
    bool used = false;
    while (auto chain = TRY(q.pop())) {
        uint64_t len = chain->readable_len();
        if (len <= net::kHeaderSize || len - net::kHeaderSize > net::kMaxFrame) {
            spdlog::debug("virtio net: transmit chain of {} bytes dropped", len);
            ++_counters.tx_dropped;
        } else {
            auto spans = TRY(chain->readable_spans(_context->memory(), net::kHeaderSize, len - net::kHeaderSize));
            std::vector<iovec> iov;
            iov.reserve(spans.size());
            for (auto s : spans) iov.push_back({s.data(), s.size()});
            ssize_t n = ::writev(_packets.get(), iov.data(), static_cast<int>(iov.size()));
            if (n < 0) {
                // A full or downed backend drops the frame, as a wire would.
                spdlog::debug("virtio net: transmit: {}", Error::from_errno("write").message());
                ++_counters.tx_dropped;
            } else {
                ++_counters.tx_frames;
            }
        }
        TRY(q.push_used(chain->head(), 0));
        used = true;
    }
    if (used) _context->signal_used(kTxQueue);
    return {};
}

Result<void> Net::process_rx() {
    Queue& q = _context->queue(kRxQueue);
    bool used = false;
    for (;;) {
        if (_frame.empty() && !read_frame()) {
            // Nothing waits: hear from the backend when something does.
            watch_backend(true);
            break;
        }
        if (!TRY(q.has_available())) {
            // No buffers: frames stay in the backend until the guest posts
            // some and notifies the queue.
            watch_backend(false);
            break;
        }
        auto chain = TRY(q.pop());
        if (!chain) break;
        uint32_t written = 0;
        if (chain->writable_len() < net::kHeaderSize + _frame.size()) {
            spdlog::debug("virtio net: a {}-byte frame does not fit a {}-byte receive chain; dropped", _frame.size(),
                          chain->writable_len());
            ++_counters.rx_dropped;
        } else {
            std::array<uint8_t, net::kHeaderSize> header{};
            header[10] = 1; // num_buffers
            TRY(chain->write(_context->memory(), 0, header));
            TRY(chain->write(_context->memory(), net::kHeaderSize, _frame));
            written = static_cast<uint32_t>(net::kHeaderSize + _frame.size());
            ++_counters.rx_frames;
        }
        _frame.clear();
        TRY(q.push_used(chain->head(), written));
        used = true;
    }
    if (used) _context->signal_used(kRxQueue);
    return {};
}

bool Net::read_frame() {
    for (;;) {
        ssize_t n = ::read(_packets.get(), _buffer.data(), _buffer.size());
        if (n > static_cast<ssize_t>(net::kMaxFrame)) {
            ++_counters.rx_dropped;
            continue;
        }
        if (n > 0) {
            _frame.assign(_buffer.begin(), _buffer.begin() + n);
            return true;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return false;
        // End of file or a broken backend: stop listening, or an always
        // readable fd would spin the I/O thread.
        spdlog::warn("virtio net: the backend {}; receiving stops",
                     n == 0 ? std::string("closed") : Error::from_errno("read").message());
        _backend_broken = true;
        watch_backend(false);
        return false;
    }
}

void Net::watch_backend(bool on) {
    if (!_context || on == _watching || (on && _backend_broken)) return;
    if (!on) {
        _context->unwatch_fd(_packets.get());
        _watching = false;
        return;
    }
    auto ok = _context->watch_fd(_packets.get(), EPOLLIN, [this](uint32_t) {
        if (_context) _context->kick(kRxQueue);
    });
    if (!ok) spdlog::warn("virtio net: {}", ok.error().message());
    _watching = ok.has_value();
}

std::vector<uint8_t> Net::save_state() const {
    snapshot::ByteWriter w;
    NetStateCodec::encode(NetState{_mac}, w);
    return std::move(w.bytes());
}

Result<void> Net::restore_state(std::span<const uint8_t> bytes, uint32_t version) {
    snapshot::ByteReader r(bytes, "virtio-net state");
    auto state = TRY(NetStateCodec::decode(r, version));
    if (r.remaining() != 0) return fail("virtio-net state has trailing bytes");
    if (state.mac != _mac)
        spdlog::info("virtio net: restored with MAC {} (the snapshot had {})", format_mac(_mac), format_mac(state.mac));
    return {};
}

} // namespace brood::virtio
