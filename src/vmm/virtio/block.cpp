#include "vmm/virtio/block.hpp"

#include <array>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/snapshot/bytes.hpp"

namespace brood::virtio {
namespace {

struct RequestHeader {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};
static_assert(sizeof(RequestHeader) == 16);

} // namespace

uint64_t Block::features() const {
    uint64_t f = blk::kFeatureSizeMax | blk::kFeatureSegMax | blk::kFeatureBlkSize | blk::kFeatureFlush;
    if (_backend->read_only()) f |= blk::kFeatureRo;
    return f;
}

void Block::read_config(uint64_t offset, std::span<uint8_t> data) const {
    // struct virtio_blk_config up to blk_size: capacity, size_max, seg_max,
    // geometry (unused), blk_size.
    std::array<uint8_t, 24> config{};
    uint64_t capacity = _backend->size() / blk::kSectorSize;
    uint32_t size_max = blk::kSegmentSizeMax, seg_max = blk::kSegmentMax, blk_size = blk::kSectorSize;
    std::memcpy(config.data(), &capacity, 8);
    std::memcpy(config.data() + 8, &size_max, 4);
    std::memcpy(config.data() + 12, &seg_max, 4);
    std::memcpy(config.data() + 20, &blk_size, 4);
    for (size_t i = 0; i < data.size(); ++i) data[i] = offset + i < config.size() ? config[offset + i] : 0;
}

Result<void> Block::activate(DeviceContext& context, uint64_t) {
    _context = &context;
    return {};
}

Result<void> Block::process_queue(uint16_t index) {
    if (!_context || index != 0) return {};
    Queue& queue = _context->queue(0);
    bool used = false;
    while (auto chain = TRY(queue.pop())) {
        uint32_t written = TRY(serve(*chain));
        TRY(queue.push_used(chain->head(), written));
        used = true;
    }
    if (used) _context->signal_used(0);
    return {};
}

Result<uint32_t> Block::serve(const DescriptorChain& chain) {
    GuestMemory& memory = _context->memory();
    if (chain.writable_len() == 0) return fail("a block request has no status byte");
    uint64_t status_offset = chain.writable_len() - 1;
    uint64_t written = 0;
    uint8_t status;
    RequestHeader header{};
    if (chain.readable_len() < sizeof(header)) {
        status = blk::kStatusIoErr;
    } else {
        TRY(chain.read(memory, 0, std::span(reinterpret_cast<uint8_t*>(&header), sizeof(header))));
        status = serve_io(chain, header.type, header.sector, written);
    }
    TRY(chain.write(memory, status_offset, std::span(&status, 1)));
    return static_cast<uint32_t>(written + 1);
}

uint8_t Block::serve_io(const DescriptorChain& chain, uint32_t type, uint64_t sector, uint64_t& written) {
    GuestMemory& memory = _context->memory();
    auto in_bounds = [this, sector](uint64_t len) {
        uint64_t sectors = _backend->size() / blk::kSectorSize;
        return len % blk::kSectorSize == 0 && len <= blk::kMaxRequestBytes && sector <= sectors &&
               len / blk::kSectorSize <= sectors - sector;
    };
    auto report = [this, type, sector](const Error& e) {
        spdlog::warn("virtio block: request {} at sector {}: {}", type, sector, e.message());
        return blk::kStatusIoErr;
    };
    switch (type) {
    case blk::kIn: {
        uint64_t len = chain.writable_len() - 1;
        if (!in_bounds(len)) return blk::kStatusIoErr;
        auto spans = chain.writable_spans(memory, 0, len);
        if (!spans) return report(spans.error());
        if (auto r = _backend->read(sector * blk::kSectorSize, *spans); !r) return report(r.error());
        written = len;
        return blk::kStatusOk;
    }
    case blk::kOut: {
        uint64_t len = chain.readable_len() - sizeof(RequestHeader);
        if (_backend->read_only() || !in_bounds(len)) return blk::kStatusIoErr;
        auto spans = chain.readable_spans(memory, sizeof(RequestHeader), len);
        if (!spans) return report(spans.error());
        if (auto r = _backend->write(sector * blk::kSectorSize, *spans); !r) return report(r.error());
        return blk::kStatusOk;
    }
    case blk::kFlush:
        if (auto r = _backend->flush(); !r) return report(r.error());
        return blk::kStatusOk;
    case blk::kGetId: {
        std::array<uint8_t, blk::kIdBytes> id{};
        auto serial = _backend->serial();
        std::memcpy(id.data(), serial.data(), std::min(serial.size(), id.size()));
        uint64_t len = std::min<uint64_t>(id.size(), chain.writable_len() - 1);
        if (auto r = chain.write(memory, 0, std::span(id).first(len)); !r) return report(r.error());
        written = len;
        return blk::kStatusOk;
    }
    default:
        return blk::kStatusUnsupported;
    }
}

std::vector<uint8_t> Block::save_state() const {
    snapshot::ByteWriter w;
    w.u64(_backend->size());
    w.u8(_backend->read_only() ? 1 : 0);
    return std::move(w.bytes());
}

Result<void> Block::restore_state(std::span<const uint8_t> bytes, uint32_t version) {
    if (version != 1) return fail(fmt::format("virtio-block state version {} is not supported", version));
    snapshot::ByteReader r(bytes, "virtio-block state");
    uint64_t size = TRY(r.u64());
    uint8_t ro = TRY(r.u8());
    if (r.remaining() != 0) return fail("virtio-block state has trailing bytes");
    if (size != _backend->size())
        return fail(fmt::format("the disk has {} bytes, the snapshot was taken with {}", _backend->size(), size));
    if ((ro != 0) != _backend->read_only())
        return fail(fmt::format("the disk is {}, the snapshot was taken with it {}",
                                _backend->read_only() ? "read-only" : "writable", ro ? "read-only" : "writable"));
    return {};
}

} // namespace brood::virtio
