#include "vmm/virtio/transport.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace brood::virtio {
namespace {

constexpr uint32_t kKnownStatus = status::kAcknowledge | status::kDriver | status::kDriverOk | status::kFeaturesOk |
                                  status::kNeedsReset | status::kFailed;

uint32_t low(uint64_t v) { return static_cast<uint32_t>(v); }
uint32_t high(uint64_t v) { return static_cast<uint32_t>(v >> 32); }
void set_low(uint64_t& v, uint32_t x) { v = (v & 0xffff'ffff'0000'0000ULL) | x; }
void set_high(uint64_t& v, uint32_t x) { v = (v & 0xffff'ffffULL) | (uint64_t{x} << 32); }

} // namespace

MmioTransport::MmioTransport(GuestMemory& memory, std::unique_ptr<Device> device, std::function<void()> interrupt,
                             EventLoop* loop)
    : _memory(memory), _device(std::move(device)), _interrupt(std::move(interrupt)), _loop(loop) {
    for (uint16_t i = 0; i < _device->queue_count(); ++i) {
        _queues.emplace_back(memory, std::min(_device->queue_max_size(i), Queue::kMaxSize));
        _notify.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    }
}

MmioTransport::~MmioTransport() {
    std::lock_guard lock(_mutex);
    if (_active) _device->reset();
    for (int fd : _watched)
        if (_loop) _loop->unwatch(fd);
}

uint64_t MmioTransport::offered_features() const { return _device->features() | kFeatureVersion1; }

Queue* MmioTransport::selected_queue() {
    return _s.queue_sel < _queues.size() ? &_queues[_s.queue_sel] : nullptr;
}

void MmioTransport::mmio_read(uint64_t offset, std::span<uint8_t> data) {
    std::fill(data.begin(), data.end(), uint8_t{0});
    if (offset >= reg::kConfig) {
        std::lock_guard lock(_mutex);
        _device->read_config(offset - reg::kConfig, data);
        return;
    }
    // Registers are 32 bits wide and read whole.
    if (data.size() != 4 || offset % 4 != 0) return;
    uint32_t value;
    if (offset == reg::kInterruptStatus) value = _interrupt_status.load();
    else {
        std::lock_guard lock(_mutex);
        value = read_register(offset);
    }
    std::memcpy(data.data(), &value, 4);
}

uint32_t MmioTransport::read_register(uint64_t offset) const {
    const Queue* q = _s.queue_sel < _queues.size() ? &_queues[_s.queue_sel] : nullptr;
    switch (offset) {
    case reg::kMagic: return kMagicValue;
    case reg::kVersion: return 2;
    case reg::kDeviceId: return static_cast<uint32_t>(_device->type());
    case reg::kVendorId: return kVendorId;
    case reg::kDeviceFeatures:
        if (_s.device_features_sel == 0) return low(offered_features());
        if (_s.device_features_sel == 1) return high(offered_features());
        return 0;
    case reg::kQueueNumMax: return q ? q->max_size() : 0;
    case reg::kQueueReady: return q && q->state().ready ? 1 : 0;
    case reg::kStatus: return _s.status;
    case reg::kShmLenLow:
    case reg::kShmLenHigh: return 0xffff'ffff; // no shared memory regions
    case reg::kConfigGeneration: return _s.config_generation;
    default: return 0;
    }
}

void MmioTransport::mmio_write(uint64_t offset, std::span<const uint8_t> data) {
    if (offset >= reg::kConfig) {
        std::lock_guard lock(_mutex);
        _device->write_config(offset - reg::kConfig, data);
        return;
    }
    if (data.size() != 4 || offset % 4 != 0) return;
    uint32_t value;
    std::memcpy(&value, data.data(), 4);
    if (offset == reg::kQueueNotify) {
        // Without an ioeventfd the write reaches us: pass it to the I/O thread.
        if (value < _queues.size()) kick(static_cast<uint16_t>(value));
        return;
    }
    if (offset == reg::kInterruptAck) {
        _interrupt_status.fetch_and(~value);
        return;
    }
    std::lock_guard lock(_mutex);
    write_register(offset, value);
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
    bool features_locked = (_s.status & status::kFeaturesOk) != 0;
    Queue* q = selected_queue();
    // A queue's set-up changes only while it is not ready.
    QueueState* qs = q && !q->state().ready && !(_s.status & status::kDriverOk) ? &q->state() : nullptr;
    switch (offset) {
    case reg::kDeviceFeaturesSel: _s.device_features_sel = value; break;
    case reg::kDriverFeaturesSel: _s.driver_features_sel = value; break;
    case reg::kDriverFeatures:
        if (features_locked) break;
        if (_s.driver_features_sel == 0) set_low(_s.driver_features, value);
        else if (_s.driver_features_sel == 1) set_high(_s.driver_features, value);
        break;
    case reg::kQueueSel: _s.queue_sel = value; break;
    case reg::kQueueNum:
        if (qs) qs->size = static_cast<uint16_t>(std::min<uint32_t>(value, 0xffff));
        break;
    case reg::kQueueReady:
        if (!q || (_s.status & status::kDriverOk)) break;
        if (value == 0) q->state().ready = false;
        else if (!q->state().ready) {
            QueueState next = q->state();
            next.ready = true;
            next.next_avail = next.next_used = 0;
            if (auto ok = q->check(next); !ok) {
                spdlog::warn("virtio {}: queue {} refused: {}", _device->name(), _s.queue_sel, ok.error().message());
                break;
            }
            q->state() = next;
        }
        break;
    case reg::kQueueDescLow: if (qs) set_low(qs->desc_addr, value); break;
    case reg::kQueueDescHigh: if (qs) set_high(qs->desc_addr, value); break;
    case reg::kQueueDriverLow: if (qs) set_low(qs->avail_addr, value); break;
    case reg::kQueueDriverHigh: if (qs) set_high(qs->avail_addr, value); break;
    case reg::kQueueDeviceLow: if (qs) set_low(qs->used_addr, value); break;
    case reg::kQueueDeviceHigh: if (qs) set_high(qs->used_addr, value); break;
    case reg::kStatus: write_status(value); break;
    default: break;
    }
}

void MmioTransport::write_status(uint32_t value) {
    if (value == 0) {
        reset();
        return;
    }
    uint32_t old = _s.status;
    value &= kKnownStatus & ~status::kNeedsReset;
    if ((value & status::kFeaturesOk) && !(old & status::kFeaturesOk)) {
        uint64_t extra = _s.driver_features & ~offered_features();
        if (extra != 0 || !(_s.driver_features & kFeatureVersion1)) {
            // The driver reads FEATURES_OK back and gives up.
            spdlog::warn("virtio {}: driver features {:#x} refused (offered {:#x})", _device->name(),
                         _s.driver_features, offered_features());
            value &= ~status::kFeaturesOk;
        }
    }
    _s.status = value | (old & status::kNeedsReset);
    if ((value & status::kDriverOk) && !(old & status::kDriverOk) && !_s.failed) {
        if (!(value & status::kFeaturesOk)) {
            fail_device(Error("the driver set DRIVER_OK without FEATURES_OK"));
            return;
        }
        if (auto r = _device->activate(*this, _s.driver_features); !r) {
            fail_device(r.error());
            return;
        }
        _active = true;
        // Buffers made available before DRIVER_OK are not lost.
        for (uint16_t i = 0; i < _queues.size(); ++i) kick(i);
    }
}

void MmioTransport::reset() {
    if (_active) _device->reset();
    for (int fd : _watched)
        if (_loop) _loop->unwatch(fd);
    _watched.clear();
    _active = false;
    _s = TransportState{};
    _interrupt_status = 0;
    for (auto& q : _queues) q.state() = QueueState{};
}

void MmioTransport::fail_device(const Error& error) {
    spdlog::error("virtio {}: the driver broke the rules, device stopped until reset: {}", _device->name(),
                  error.message());
    _s.failed = true;
    _s.status |= status::kNeedsReset;
    // The device's own fds (host sockets, a TAP) may stay readable: watched
    // level-triggered with their callbacks skipped, they would spin the I/O
    // thread. The device watches them again when the driver brings it back.
    for (int fd : _watched)
        if (_loop) _loop->unwatch(fd);
    _watched.clear();
    _interrupt_status.fetch_or(kInterruptConfigChange);
    _interrupt();
}

bool MmioTransport::failed() const {
    std::lock_guard lock(_mutex);
    return _s.failed;
}

uint32_t MmioTransport::device_status() const {
    std::lock_guard lock(_mutex);
    return _s.status;
}

void MmioTransport::on_notify(uint16_t index) {
    std::lock_guard lock(_mutex);
    if (!_active || _s.failed || index >= _queues.size()) return;
    if (auto r = _device->process_queue(index); !r) fail_device(r.error().context(fmt::format("queue {}", index)));
}

void MmioTransport::process_all() {
    for (uint16_t i = 0; i < _queues.size(); ++i) on_notify(i);
}

Result<void> MmioTransport::quiesce() {
    std::lock_guard lock(_mutex);
    if (!_active || _s.failed) return {};
    TRY_CTX(_device->quiesce(), fmt::format("virtio {}", _device->name()));
    return {};
}

void MmioTransport::signal_used(uint16_t index) {
    if (index >= _queues.size() || _queues[index].interrupt_suppressed()) return;
    _interrupt_status.fetch_or(kInterruptUsedBuffer);
    _interrupt();
}

void MmioTransport::kick(uint16_t index) {
    uint64_t one = 1;
    if (index < _notify.size()) (void)!::write(_notify[index].get(), &one, sizeof(one));
}

Result<void> MmioTransport::watch_fd(int fd, uint32_t epoll_events, std::function<void(uint32_t)> on_event) {
    if (!_loop) return fail("this machine has no I/O thread");
    TRY(_loop->watch(fd, epoll_events, [this, cb = std::move(on_event)](uint32_t events) {
        std::lock_guard lock(_mutex);
        if (_active && !_s.failed) cb(events);
    }));
    _watched.push_back(fd);
    return {};
}

void MmioTransport::unwatch_fd(int fd) {
    if (!_loop) return;
    _loop->unwatch(fd);
    std::erase(_watched, fd);
}

TransportState MmioTransport::save() const {
    std::lock_guard lock(_mutex);
    TransportState s = _s;
    s.interrupt_status = _interrupt_status.load();
    for (const auto& q : _queues) s.queues.push_back(q.state());
    s.device = _device->save_state();
    return s;
}

Result<void> MmioTransport::check(const TransportState& s) const {
    if (s.queues.size() != _queues.size())
        return fail(fmt::format("virtio {} state has {} queues, the device has {}", _device->name(), s.queues.size(),
                                _queues.size()));
    if (s.status & ~kKnownStatus) return fail(fmt::format("virtio {} status {:#x} is not valid", _device->name(), s.status));
    if (s.driver_features & ~offered_features())
        return fail(fmt::format("virtio {} state has features {:#x} the device does not offer", _device->name(),
                                s.driver_features));
    if (s.interrupt_status & ~(kInterruptUsedBuffer | kInterruptConfigChange))
        return fail(fmt::format("virtio {} interrupt status {:#x} is not valid", _device->name(), s.interrupt_status));
    for (size_t i = 0; i < s.queues.size(); ++i)
        TRY_CTX(_queues[i].check(s.queues[i]), fmt::format("virtio {} queue {}", _device->name(), i));
    return {};
}

Result<void> MmioTransport::restore(const TransportState& s, uint32_t device_version) {
    TRY(check(s));
    std::lock_guard lock(_mutex);
    if (_active) _device->reset();
    _active = false;
    TRY_CTX(_device->restore_state(s.device, device_version), fmt::format("virtio {}", _device->name()));
    _s = s;
    _s.queues.clear();
    _s.device.clear();
    _interrupt_status = s.interrupt_status;
    for (size_t i = 0; i < _queues.size(); ++i) _queues[i].state() = s.queues[i];
    if ((_s.status & status::kDriverOk) && !_s.failed) {
        TRY_CTX(_device->activate(*this, _s.driver_features), fmt::format("virtio {}", _device->name()));
        _active = true;
    }
    return {};
}

Result<std::vector<uint8_t>> TransportPersist::save() {
    snapshot::ByteWriter w;
    encode_transport(_transport.save(), w);
    return std::move(w.bytes());
}

Result<void> TransportPersist::load(std::span<const uint8_t> payload, uint32_t version) {
    std::string what = fmt::format("{} section", kind().name);
    snapshot::ByteReader r(payload, what);
    auto state = TRY(decode_transport(r));
    if (r.remaining() != 0) return fail(fmt::format("{} has trailing bytes", what));
    TRY(_transport.check(state));
    _loaded = std::move(state);
    _loaded_version = version;
    return {};
}

Result<void> TransportPersist::apply() {
    if (!_loaded) return {};
    return _transport.restore(*_loaded, _loaded_version);
}

} // namespace brood::virtio
