// What a virtio device implements to sit behind the virtio-mmio transport
// (transport.hpp), and what the transport offers it in return.
//
// A device type is one file: a class derived from virtio::Device, plus one
// line in Machine::add_devices() that hands it to the machine. The
// transport owns the registers, feature negotiation, status, the queues'
// configuration, interrupts and the device's snapshot section; the device
// owns its config space and what it does with the buffers.
//
// Threads: every call into a device holds the transport's lock, so a
// device needs no lock of its own for what only these calls touch.
// process_queue, fd callbacks and quiesce run on the machine's one I/O
// thread; config-space accesses, and activate and reset (the driver writing
// the status register), come from vCPU threads; restore and teardown from
// the VMM's main thread. Slow work belongs in process_queue.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "common/result.hpp"
#include "vmm/memory/guest_memory.hpp"
#include "vmm/snapshot/persist.hpp"
#include "vmm/virtio/queue.hpp"

namespace brood::virtio {

// Device types (virtio 1.x, "Device Types").
enum class DeviceType : uint32_t { net = 1, block = 2, console = 3, entropy = 4, vsock = 19 };

// Snapshot section ids for virtio device types (other components use 1..15).
namespace section_id {
constexpr uint32_t kBlock = 16;
constexpr uint32_t kVsock = 17;
constexpr uint32_t kNet = 18;
} // namespace section_id

// What the transport offers an active device, on the I/O thread.
class DeviceContext {
public:
    virtual ~DeviceContext() = default;
    virtual GuestMemory& memory() = 0;
    virtual Queue& queue(uint16_t index) = 0;
    // Raises the used-buffer interrupt for a queue after push_used(),
    // unless the driver suppressed it.
    virtual void signal_used(uint16_t index) = 0;
    // Asks the I/O thread to call process_queue(index) soon: for work that
    // starts on the host side (data arriving for a receive queue).
    virtual void kick(uint16_t index) = 0;
    // Watches a host fd on the I/O thread; `on_event` gets the epoll
    // events. Watches end at unwatch_fd(), reset() or when the machine ends.
    virtual Result<void> watch_fd(int fd, uint32_t epoll_events, std::function<void(uint32_t)> on_event) = 0;
    virtual void unwatch_fd(int fd) = 0;
};

class Device {
public:
    virtual ~Device() = default;

    virtual DeviceType type() const = 0;
    // Short, for logs and errors: "block".
    virtual const char* name() const = 0;
    // Device-type feature bits offered (bits 0..23 and any above 40); the
    // transport adds VIRTIO_F_VERSION_1 and requires the driver to take it.
    virtual uint64_t features() const = 0;
    virtual uint16_t queue_count() const = 0;
    // At most Queue::kMaxSize, a power of two.
    virtual uint16_t queue_max_size(uint16_t index) const = 0;

    // Device config space (vCPU threads). Reads past its end see zeros;
    // writes the device does not accept are ignored.
    virtual void read_config(uint64_t offset, std::span<uint8_t> data) const = 0;
    virtual void write_config(uint64_t offset, std::span<const uint8_t> data) { (void)offset, (void)data; }

    // The driver set DRIVER_OK with these features (or a snapshot taken
    // after that was restored). The context stays valid until reset().
    // Queues made available before this are processed right after.
    virtual Result<void> activate(DeviceContext& context, uint64_t acked_features) = 0;
    // The driver notified queue `index` (or kick() asked for it). Pop what
    // is available, push it used, signal_used(). An error means the guest
    // broke the rules: the transport sets DEVICE_NEEDS_RESET, raises a
    // config-change interrupt and calls nothing more until the driver resets.
    virtual Result<void> process_queue(uint16_t index) = 0;
    // The driver reset the device (or failed it): drop everything activate()
    // set up. The device may be activated again.
    virtual void reset() = 0;
    // Before a snapshot, with vCPUs paused: finish in-flight requests and
    // make what the guest wrote durable.
    virtual Result<void> quiesce() { return {}; }

    // This device type's snapshot section (see section_id).
    virtual snapshot::SectionKind section_kind() const = 0;
    // Device-type state beyond the transport and queues, as bytes the device
    // encodes itself, at section_kind().version.
    virtual std::vector<uint8_t> save_state() const { return {}; }
    // Decodes and checks saved bytes of the given version, changing nothing
    // on error; called before activate() on restore. The bytes come from a
    // file and may be hostile.
    virtual Result<void> restore_state(std::span<const uint8_t> bytes, uint32_t version) {
        (void)version;
        if (!bytes.empty()) return fail(std::string(name()) + " device state has unexpected bytes");
        return {};
    }
};

} // namespace brood::virtio
