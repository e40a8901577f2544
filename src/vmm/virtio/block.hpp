// virtio-blk: a disk of 512-byte sectors over a BlockBackend. Read, write,
// flush and get-id; read-only disks offer VIRTIO_BLK_F_RO and fail writes
// with VIRTIO_BLK_S_IOERR. One request queue.
#pragma once

#include <cstdint>
#include <memory>

#include "vmm/virtio/block_backend.hpp"
#include "vmm/virtio/device.hpp"

namespace brood::virtio {

namespace blk {
constexpr uint32_t kIn = 0, kOut = 1, kFlush = 4, kGetId = 8;
constexpr uint8_t kStatusOk = 0, kStatusIoErr = 1, kStatusUnsupported = 2;
constexpr uint64_t kFeatureSizeMax = 1ULL << 1, kFeatureSegMax = 1ULL << 2, kFeatureRo = 1ULL << 5,
                   kFeatureBlkSize = 1ULL << 6, kFeatureFlush = 1ULL << 9;
constexpr uint64_t kSectorSize = 512;
constexpr uint32_t kSegmentMax = 128;        // buffers of one request
constexpr uint32_t kSegmentSizeMax = 1 << 16; // bytes of one buffer
// The largest data part of one request; larger ones fail with IOERR.
constexpr uint64_t kMaxRequestBytes = uint64_t{kSegmentMax} * kSegmentSizeMax;
constexpr uint32_t kIdBytes = 20;
} // namespace blk

class Block final : public Device {
public:
    static constexpr uint16_t kQueueSize = 256;

    explicit Block(std::unique_ptr<BlockBackend> backend) : _backend(std::move(backend)) {}

    BlockBackend& backend() { return *_backend; }

    DeviceType type() const override { return DeviceType::block; }
    const char* name() const override { return "block"; }
    uint64_t features() const override;
    uint16_t queue_count() const override { return 1; }
    uint16_t queue_max_size(uint16_t) const override { return kQueueSize; }
    void read_config(uint64_t offset, std::span<uint8_t> data) const override;
    Result<void> activate(DeviceContext& context, uint64_t acked_features) override;
    Result<void> process_queue(uint16_t index) override;
    void reset() override { _context = nullptr; }
    Result<void> quiesce() override { return _backend->flush(); }

    // Version 1: the disk's size and read-only flag, checked on restore.
    snapshot::SectionKind section_kind() const override { return {section_id::kBlock, 1, "virtio-block"}; }
    std::vector<uint8_t> save_state() const override;
    Result<void> restore_state(std::span<const uint8_t> bytes, uint32_t version) override;

private:
    // Serves one chain; returns the bytes written into it, or an error when
    // the chain has no status byte to report a failure in.
    Result<uint32_t> serve(const DescriptorChain& chain);
    uint8_t serve_io(const DescriptorChain& chain, uint32_t type, uint64_t sector, uint64_t& written);

    std::unique_ptr<BlockBackend> _backend;
    DeviceContext* _context = nullptr;
};

} // namespace brood::virtio
