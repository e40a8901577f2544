#include "vmm/virtio/transport_state.hpp"

#include <fmt/format.h>

namespace brood::virtio {
namespace {
constexpr uint32_t kMaxQueues = 64;
}

void encode_transport(const TransportState& s, snapshot::ByteWriter& w) {
    w.u32(s.status);
    w.u32(s.device_features_sel);
    w.u32(s.driver_features_sel);
    w.u64(s.driver_features);
    w.u32(s.queue_sel);
    w.u32(s.interrupt_status);
    w.u32(s.config_generation);
    w.u8(s.failed ? 1 : 0);
    w.u32(static_cast<uint32_t>(s.queues.size()));
    for (const auto& q : s.queues) {
        w.u32(q.size);
        w.u8(q.ready ? 1 : 0);
        w.u64(q.desc_addr);
        w.u64(q.avail_addr);
        w.u64(q.used_addr);
        w.u32(q.next_avail);
        w.u32(q.next_used);
    }
    w.blob(s.device);
}

Result<TransportState> decode_transport(snapshot::ByteReader& r) {
    auto u16 = [&r](const char* what) -> Result<uint16_t> {
        uint32_t v = TRY(r.u32());
        if (v > 0xffff) return fail(fmt::format("virtio queue {} {} is out of range", what, v));
        return static_cast<uint16_t>(v);
    };
    auto flag = [&r](const char* what) -> Result<bool> {
        uint8_t v = TRY(r.u8());
        if (v > 1) return fail(fmt::format("virtio {} flag is {}, not 0 or 1", what, v));
        return v == 1;
    };
    TransportState s;
    s.status = TRY(r.u32());
    s.device_features_sel = TRY(r.u32());
    s.driver_features_sel = TRY(r.u32());
    s.driver_features = TRY(r.u64());
    s.queue_sel = TRY(r.u32());
    s.interrupt_status = TRY(r.u32());
    s.config_generation = TRY(r.u32());
    s.failed = TRY(flag("failed"));
    uint32_t count = TRY(r.u32());
    if (count > kMaxQueues) return fail(fmt::format("virtio state has {} queues, more than {}", count, kMaxQueues));
    for (uint32_t i = 0; i < count; ++i) {
        QueueState q;
        q.size = TRY(u16("size"));
        q.ready = TRY(flag("ready"));
        q.desc_addr = TRY(r.u64());
        q.avail_addr = TRY(r.u64());
        q.used_addr = TRY(r.u64());
        q.next_avail = TRY(u16("available index"));
        q.next_used = TRY(u16("used index"));
        s.queues.push_back(q);
    }
    s.device = TRY(r.blob());
    return s;
}

} // namespace brood::virtio
