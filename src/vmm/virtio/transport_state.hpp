// A virtio-mmio device's snapshot section: transport registers, queues and
// the device type's own bytes, as plain data with its codec.
#pragma once

#include <cstdint>
#include <vector>

#include "common/result.hpp"
#include "vmm/snapshot/bytes.hpp"
#include "vmm/virtio/queue.hpp"

namespace brood::virtio {

struct TransportState {
    uint32_t status = 0;
    uint32_t device_features_sel = 0, driver_features_sel = 0;
    uint64_t driver_features = 0;
    uint32_t queue_sel = 0;
    uint32_t interrupt_status = 0;
    uint32_t config_generation = 0;
    bool failed = false; // the device found the driver broke the rules
    std::vector<QueueState> queues;
    std::vector<uint8_t> device; // the device type's save_state()
};

void encode_transport(const TransportState& s, snapshot::ByteWriter& w);
// Reads what encode_transport wrote; checks only the encoding (counts are
// bounded), not whether the state fits a device: MmioTransport::check does.
Result<TransportState> decode_transport(snapshot::ByteReader& r);

} // namespace brood::virtio
