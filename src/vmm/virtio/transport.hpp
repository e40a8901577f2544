// The virtio-mmio transport, virtio 1.x ("modern", version register 2)
// only: the register window the driver programs, feature negotiation,
// device status, queue set-up, the interrupt status and the device's
// error state. One transport carries one Device (device.hpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/devices/mmio_bus.hpp"
#include "vmm/snapshot/persist.hpp"
#include "vmm/virtio/device.hpp"
#include "vmm/virtio/event_loop.hpp"
#include "vmm/virtio/transport_state.hpp"

namespace brood::virtio {

namespace reg {
constexpr uint64_t kMagic = 0x000, kVersion = 0x004, kDeviceId = 0x008, kVendorId = 0x00c;
constexpr uint64_t kDeviceFeatures = 0x010, kDeviceFeaturesSel = 0x014;
constexpr uint64_t kDriverFeatures = 0x020, kDriverFeaturesSel = 0x024;
constexpr uint64_t kQueueSel = 0x030, kQueueNumMax = 0x034, kQueueNum = 0x038, kQueueReady = 0x044;
constexpr uint64_t kQueueNotify = 0x050, kInterruptStatus = 0x060, kInterruptAck = 0x064, kStatus = 0x070;
constexpr uint64_t kQueueDescLow = 0x080, kQueueDescHigh = 0x084;
constexpr uint64_t kQueueDriverLow = 0x090, kQueueDriverHigh = 0x094;
constexpr uint64_t kQueueDeviceLow = 0x0a0, kQueueDeviceHigh = 0x0a4;
constexpr uint64_t kShmLenLow = 0x0b4, kShmLenHigh = 0x0b8, kShmBaseLow = 0x0bc, kShmBaseHigh = 0x0c0;
constexpr uint64_t kConfigGeneration = 0x0fc, kConfig = 0x100;
} // namespace reg

namespace status {
constexpr uint32_t kAcknowledge = 1, kDriver = 2, kDriverOk = 4, kFeaturesOk = 8, kNeedsReset = 64, kFailed = 128;
}

constexpr uint32_t kMagicValue = 0x7472'6976; // "virt"
constexpr uint32_t kVendorId = 0x4452'4f42;   // "BORD": no vendor-specific behaviour
constexpr uint64_t kFeatureVersion1 = 1ULL << 32;
constexpr uint32_t kInterruptUsedBuffer = 1, kInterruptConfigChange = 2;

class MmioTransport final : public devices::MmioDevice, private DeviceContext {
public:
    static constexpr uint64_t kWindowSize = 0x1000;

    // `interrupt` raises the device's interrupt (an edge on its line);
    // `loop` runs device work (may be null in tests: no fd watches then).
    MmioTransport(GuestMemory& memory, std::unique_ptr<Device> device, std::function<void()> interrupt,
                  EventLoop* loop);
    ~MmioTransport() override;

    Device& device() { return *_device; }
    uint16_t queue_count() const { return static_cast<uint16_t>(_queues.size()); }

    void mmio_read(uint64_t offset, std::span<uint8_t> data) override;
    void mmio_write(uint64_t offset, std::span<const uint8_t> data) override;

    // The eventfd a queue notification signals: KVM's ioeventfd on
    // QueueNotify, a QueueNotify write that reaches the VMM, or kick().
    int notify_fd(uint16_t index) const { return _notify[index].get(); }
    // On the I/O thread: the queue was notified (the eventfd was read).
    void on_notify(uint16_t index);
    // On the I/O thread: looks at every ready queue, as after a restore or
    // before a pause, when notifications may have been missed.
    void process_all();
    // Before a snapshot: the device finishes its work (see Device::quiesce).
    Result<void> quiesce();
    bool failed() const;
    uint32_t device_status() const;

    TransportState save() const;
    // Whether a saved state fits this device; changes nothing.
    Result<void> check(const TransportState& state) const;
    // `device_version` is the version of the section the state came from.
    Result<void> restore(const TransportState& state, uint32_t device_version);

private:
    // DeviceContext
    GuestMemory& memory() override { return _memory; }
    Queue& queue(uint16_t index) override { return _queues[index]; }
    void signal_used(uint16_t index) override;
    void kick(uint16_t index) override;
    Result<void> watch_fd(int fd, uint32_t epoll_events, std::function<void(uint32_t)> on_event) override;
    void unwatch_fd(int fd) override;

    uint32_t read_register(uint64_t offset) const;
    void write_register(uint64_t offset, uint32_t value);
    void write_status(uint32_t value);
    void reset();
    void fail_device(const Error& error);
    uint64_t offered_features() const;
    Queue* selected_queue();

    GuestMemory& _memory;
    std::unique_ptr<Device> _device;
    std::function<void()> _interrupt;
    EventLoop* _loop;
    mutable std::mutex _mutex;
    TransportState _s; // queues live in _queues; _s.queues is unused
    std::atomic<uint32_t> _interrupt_status{0};
    std::vector<Queue> _queues;
    std::vector<UniqueFd> _notify;
    std::vector<int> _watched;
    bool _active = false;
};

// The transport's section in the snapshot registry, with the device
// type's section kind.
class TransportPersist final : public snapshot::Persistent {
public:
    explicit TransportPersist(MmioTransport& transport) : _transport(transport) {}
    snapshot::SectionKind kind() const override { return _transport.device().section_kind(); }
    Result<std::vector<uint8_t>> save() override;
    Result<void> load(std::span<const uint8_t> payload, uint32_t version) override;
    Result<void> apply() override;

private:
    MmioTransport& _transport;
    std::optional<TransportState> _loaded;
    uint32_t _loaded_version = 0;
};

} // namespace brood::virtio
