// virtio-net (type 1): a receive and a transmit queue, the MAC address in
// config space (VIRTIO_NET_F_MAC) and a packet fd as the backend, usually
// a TAP device opened without IFF_VNET_HDR (net_tap.hpp). No offloads are
// offered, so every frame the guest sends is complete and every header the
// device writes is zero but for num_buffers.
//
// Frames move on the I/O thread: the backend becoming readable fills
// receive buffers, a transmit notification writes frames out. When the
// guest has posted no receive buffers the device stops watching the
// backend and leaves frames queued there until the guest posts some.
//
// The guest is not trusted: a frame that does not fit the buffers it
// offers, a transmit chain shorter than the header or longer than
// kMaxFrame, are dropped and counted; broken chains put the device in its
// error state (queue.hpp).
#pragma once

#include <cstdint>
#include <vector>

#include "common/mac_address.hpp"
#include "common/unique_fd.hpp"
#include "vmm/snapshot/bytes.hpp"
#include "vmm/virtio/device.hpp"

namespace brood::virtio {

namespace net {
constexpr uint64_t kFeatureMac = 1ULL << 5;
// struct virtio_net_hdr with VIRTIO_F_VERSION_1: num_buffers is always there.
constexpr uint32_t kHeaderSize = 12;
// The largest frame: 64 KiB of payload with its Ethernet and VLAN headers.
constexpr uint32_t kMaxFrame = 65562;
} // namespace net

// What a snapshot keeps of the device: plain data. Frames in flight are not
// kept; the network drops them as it would any.
struct NetState {
    MacAddress mac{};
};

struct NetStateCodec {
    using State = NetState;
    static constexpr uint32_t kVersion = 1;
    static void encode(const State& s, snapshot::ByteWriter& w);
    static Result<State> decode(snapshot::ByteReader& r, uint32_t version);
};

// What the device counts, for logs and tests.
struct NetCounters {
    uint64_t rx_frames = 0, tx_frames = 0;
    uint64_t rx_dropped = 0; // did not fit the guest's buffers
    uint64_t tx_dropped = 0; // malformed, oversized, or the backend refused them
};

class Net final : public Device {
public:
    static constexpr uint16_t kRxQueue = 0, kTxQueue = 1;
    static constexpr uint16_t kQueueSize = 256;

    // `packets`: one frame per read() and write(), non-blocking.
    Net(UniqueFd packets, MacAddress mac) : _packets(std::move(packets)), _mac(mac) {}

    const MacAddress& mac() const { return _mac; }
    const NetCounters& counters() const { return _counters; }

    DeviceType type() const override { return DeviceType::net; }
    const char* name() const override { return "net"; }
    uint64_t features() const override { return net::kFeatureMac; }
    uint16_t queue_count() const override { return 2; }
    uint16_t queue_max_size(uint16_t) const override { return kQueueSize; }
    void read_config(uint64_t offset, std::span<uint8_t> data) const override;

    Result<void> activate(DeviceContext& context, uint64_t acked_features) override;
    Result<void> process_queue(uint16_t index) override;
    void reset() override;

    snapshot::SectionKind section_kind() const override {
        return {section_id::kNet, NetStateCodec::kVersion, "virtio-net"};
    }
    std::vector<uint8_t> save_state() const override;
    // The MAC given on the command line stays: a restored fork has its own.
    Result<void> restore_state(std::span<const uint8_t> bytes, uint32_t version) override;

private:
    Result<void> process_tx();
    Result<void> process_rx();
    // Reads the next frame from the backend into _frame; false when none waits.
    bool read_frame();
    void watch_backend(bool on);

    UniqueFd _packets;
    MacAddress _mac;
    DeviceContext* _context = nullptr;
    bool _watching = false;
    bool _backend_broken = false; // read end of file or an error: receiving stops
    std::vector<uint8_t> _frame; // read from the backend, not yet delivered (empty: none)
    std::vector<uint8_t> _buffer = std::vector<uint8_t>(net::kMaxFrame + 1);
    NetCounters _counters;
};

} // namespace brood::virtio
