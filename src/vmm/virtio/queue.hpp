// The split virtqueue (virtio 1.x, "Split Virtqueues") as a device sees it:
// take descriptor chains the driver made available, hand them back used.
//
// The guest is not trusted. Every descriptor is checked before a device
// sees it: each buffer lies inside guest RAM, a chain has at most
// queue-size descriptors (so a loop ends), its total length is bounded,
// device-readable buffers come before device-writable ones, and an
// available index that runs more than queue-size ahead is refused.
// Indirect descriptors are not offered (VIRTIO_F_INDIRECT_DESC), so a
// descriptor that claims to be one is refused too. Any of these is an
// error from pop(); the transport then puts the device in its error state.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/result.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace brood::virtio {

// One guest buffer of a chain, checked to lie inside guest RAM.
struct Buffer {
    uint64_t addr = 0; // guest-physical
    uint32_t len = 0;
    bool device_writable = false;
};

// A descriptor chain taken from the available ring: device-readable
// buffers first, then device-writable ones. Offsets below count bytes
// within the readable part or within the writable part.
class DescriptorChain final {
public:
    // The largest total length of one chain, readable plus writable.
    static constexpr uint64_t kMaxTotalLen = 64ULL << 20;

    DescriptorChain(uint16_t head, std::vector<Buffer> buffers);

    // What push_used() needs to return the chain.
    uint16_t head() const { return _head; }
    std::span<const Buffer> buffers() const { return _buffers; }
    std::span<const Buffer> readable() const { return std::span(_buffers).first(_readable_count); }
    std::span<const Buffer> writable() const { return std::span(_buffers).subspan(_readable_count); }
    uint64_t readable_len() const { return _readable_len; }
    uint64_t writable_len() const { return _writable_len; }

    // Copies readable bytes [offset, offset + out.size()) into `out`; an
    // error when the chain has fewer readable bytes.
    Result<void> read(GuestMemory& memory, uint64_t offset, std::span<uint8_t> out) const;
    // Copies `in` into the writable bytes at `offset`; an error when the
    // chain has fewer writable bytes.
    Result<void> write(GuestMemory& memory, uint64_t offset, std::span<const uint8_t> in) const;
    // Host views of readable or writable bytes [offset, offset + len), one
    // per buffer touched: for scatter-gather I/O straight into guest RAM.
    Result<std::vector<std::span<uint8_t>>> readable_spans(GuestMemory& memory, uint64_t offset,
                                                           uint64_t len) const;
    Result<std::vector<std::span<uint8_t>>> writable_spans(GuestMemory& memory, uint64_t offset,
                                                           uint64_t len) const;

private:
    uint16_t _head;
    std::vector<Buffer> _buffers;
    size_t _readable_count = 0;
    uint64_t _readable_len = 0, _writable_len = 0;
};

// Where a queue lives and how far the device has got: plain data, as the
// transport programs it and as a snapshot saves it.
struct QueueState {
    uint16_t size = 0;  // entries, a power of two up to the queue's maximum
    bool ready = false; // QueueReady
    uint64_t desc_addr = 0, avail_addr = 0, used_addr = 0;
    uint16_t next_avail = 0; // the next available-ring entry the device takes
    uint16_t next_used = 0;  // the next used-ring entry the device fills
};

class Queue final {
public:
    // The largest queue size any device may declare.
    static constexpr uint16_t kMaxSize = 1024;

    Queue(GuestMemory& memory, uint16_t max_size);

    uint16_t max_size() const { return _max_size; }
    QueueState& state() { return _s; }
    const QueueState& state() const { return _s; }
    // Checks a state read from a snapshot or set by the driver: size and
    // ring addresses (alignment, inside guest RAM).
    Result<void> check(const QueueState& state) const;

    // The next available chain, or nullopt when the driver has made none
    // available. An error means the driver broke the rules: the device
    // must stop using the queue.
    Result<std::optional<DescriptorChain>> pop();
    // Gives a chain back to the driver, with how many bytes the device
    // wrote into its writable buffers.
    Result<void> push_used(uint16_t head, uint32_t written);
    // Whether the driver asked not to be interrupted for used buffers
    // (VRING_AVAIL_F_NO_INTERRUPT); the transport consults it.
    bool interrupt_suppressed() const;
    // Whether the available ring holds chains not yet taken.
    Result<bool> has_available() const;
    // The driver's avail->idx: it moves each time the driver makes a chain available.
    Result<uint16_t> avail_idx() const;

private:
    GuestMemory& _memory;
    uint16_t _max_size;
    QueueState _s;
};

} // namespace brood::virtio
