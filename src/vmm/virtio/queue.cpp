#include "vmm/virtio/queue.hpp"

#include <atomic>
#include <bit>
#include <cstring>

#include <fmt/format.h>

namespace brood::virtio {
namespace {

constexpr uint16_t kDescNext = 1;
constexpr uint16_t kDescWrite = 2;
constexpr uint16_t kDescIndirect = 4;
constexpr uint16_t kAvailNoInterrupt = 1;

struct Descriptor {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
static_assert(sizeof(Descriptor) == 16);

uint64_t desc_table_len(uint16_t size) { return 16ULL * size; }
uint64_t avail_ring_len(uint16_t size) { return 6 + 2ULL * size; }
uint64_t used_ring_len(uint16_t size) { return 6 + 8ULL * size; }

template <typename T>
Result<T> load(const GuestMemory& memory, uint64_t gpa) {
    T value;
    TRY(memory.read(gpa, std::span(reinterpret_cast<uint8_t*>(&value), sizeof(T))));
    return value;
}

// Visits [offset, offset + len) of a part of a chain, buffer by buffer.
template <typename F>
Result<void> walk(std::span<const Buffer> part, uint64_t part_len, uint64_t offset, uint64_t len, const char* what,
                  F&& visit) {
    if (offset > part_len || len > part_len - offset)
        return fail(fmt::format("the chain has {} {} bytes, the device needs {} at offset {}", part_len, what, len,
                                offset));
    for (const auto& b : part) {
        if (len == 0) break;
        if (offset >= b.len) {
            offset -= b.len;
            continue;
        }
        uint64_t n = std::min<uint64_t>(b.len - offset, len);
        TRY(visit(b.addr + offset, n));
        offset = 0;
        len -= n;
    }
    return {};
}

} // namespace

DescriptorChain::DescriptorChain(uint16_t head, std::vector<Buffer> buffers)
    : _head(head), _buffers(std::move(buffers)) {
    for (const auto& b : _buffers) {
        if (b.device_writable) _writable_len += b.len;
        else {
            ++_readable_count;
            _readable_len += b.len;
        }
    }
}

Result<void> DescriptorChain::read(GuestMemory& memory, uint64_t offset, std::span<uint8_t> out) const {
    size_t done = 0;
    return walk(readable(), _readable_len, offset, out.size(), "readable", [&](uint64_t gpa, uint64_t n) {
        auto r = memory.read(gpa, out.subspan(done, n));
        done += n;
        return r;
    });
}

Result<void> DescriptorChain::write(GuestMemory& memory, uint64_t offset, std::span<const uint8_t> in) const {
    size_t done = 0;
    return walk(writable(), _writable_len, offset, in.size(), "writable", [&](uint64_t gpa, uint64_t n) {
        auto r = memory.write(gpa, in.subspan(done, n));
        done += n;
        return r;
    });
}

namespace {

// The host spans behind [offset, offset+len) of `buffers`, each checked against RAM.
Result<std::vector<std::span<uint8_t>>> spans_of(GuestMemory& memory, std::span<const Buffer> buffers, uint64_t total,
                                                 uint64_t offset, uint64_t len, const char* what) {
    std::vector<std::span<uint8_t>> out;
    auto ok = walk(buffers, total, offset, len, what, [&](uint64_t gpa, uint64_t n) -> Result<void> {
        auto span = memory.span(gpa, n);
        if (!span) return fail(span.error());
        out.push_back(*span);
        return {};
    });
    if (!ok) return fail(ok.error());
    return out;
}

} // namespace

Result<std::vector<std::span<uint8_t>>> DescriptorChain::readable_spans(GuestMemory& memory, uint64_t offset,
                                                                        uint64_t len) const {
    return spans_of(memory, readable(), _readable_len, offset, len, "readable");
}

Result<std::vector<std::span<uint8_t>>> DescriptorChain::writable_spans(GuestMemory& memory, uint64_t offset,
                                                                        uint64_t len) const {
    return spans_of(memory, writable(), _writable_len, offset, len, "writable");
}

Queue::Queue(GuestMemory& memory, uint16_t max_size) : _memory(memory), _max_size(max_size) {}

Result<void> Queue::check(const QueueState& s) const {
    if (s.size == 0 && !s.ready) return {};
    if (s.size == 0 || s.size > _max_size || !std::has_single_bit(s.size))
        return fail(fmt::format("queue size {} is not a power of two up to {}", s.size, _max_size));
    if (!s.ready) return {};
    auto ring = [this](const char* what, uint64_t addr, uint64_t len, uint64_t align) -> Result<void> {
        if (addr % align != 0) return fail(fmt::format("{} at {:#x} is not {}-byte aligned", what, addr, align));
        auto in_ram = _memory.layout().offset_of(addr, len);
        if (!in_ram) return fail(fmt::format("{} at {:#x}+{:#x} is not in guest RAM", what, addr, len));
        return {};
    };
    TRY(ring("descriptor table", s.desc_addr, desc_table_len(s.size), 16));
    TRY(ring("available ring", s.avail_addr, avail_ring_len(s.size), 2));
    TRY(ring("used ring", s.used_addr, used_ring_len(s.size), 4));
    return {};
}

Result<uint16_t> Queue::avail_idx() const {
    auto idx = TRY(load<uint16_t>(_memory, _s.avail_addr + 2));
    // Ring entries are read after the index that publishes them.
    std::atomic_thread_fence(std::memory_order_acquire);
    return idx;
}

Result<bool> Queue::has_available() const {
    if (!_s.ready) return false;
    return TRY(avail_idx()) != _s.next_avail;
}

Result<std::optional<DescriptorChain>> Queue::pop() {
    if (!_s.ready) return std::nullopt;
    uint16_t idx = TRY(avail_idx());
    uint16_t pending = static_cast<uint16_t>(idx - _s.next_avail);
    if (pending == 0) return std::nullopt;
    if (pending > _s.size)
        return fail(fmt::format("available index {} is {} ahead of the device, more than the queue size {}", idx,
                                pending, _s.size));
    uint64_t slot = _s.next_avail % _s.size;
    uint16_t head = TRY(load<uint16_t>(_memory, _s.avail_addr + 4 + 2 * slot));
    if (head >= _s.size) return fail(fmt::format("chain head {} is outside the queue (size {})", head, _s.size));

    std::vector<Buffer> buffers;
    uint64_t total = 0;
    bool seen_writable = false;
    uint16_t index = head;
    for (uint32_t count = 1;; ++count) {
        if (count > _s.size)
            return fail(fmt::format("descriptor chain at {} is longer than the queue (a loop?)", head));
        auto d = TRY(load<Descriptor>(_memory, _s.desc_addr + 16ULL * index));
        if (d.flags & kDescIndirect)
            return fail(fmt::format("descriptor {} is indirect, a feature the device did not offer", index));
        bool writable = (d.flags & kDescWrite) != 0;
        if (!writable && seen_writable)
            return fail(fmt::format("descriptor {} is device-readable after a device-writable one", index));
        seen_writable = seen_writable || writable;
        total += d.len;
        if (total > DescriptorChain::kMaxTotalLen)
            return fail(fmt::format("descriptor chain at {} is longer than {} bytes", head,
                                    DescriptorChain::kMaxTotalLen));
        if (d.len > 0) {
            if (!_memory.layout().offset_of(d.addr, d.len))
                return fail(fmt::format("descriptor {} ({:#x}+{:#x}) is not in guest RAM", index, d.addr, d.len));
            buffers.push_back({d.addr, d.len, writable});
        }
        if (!(d.flags & kDescNext)) break;
        if (d.next >= _s.size)
            return fail(fmt::format("descriptor {} links to {}, outside the queue (size {})", index, d.next, _s.size));
        index = d.next;
    }
    ++_s.next_avail;
    return DescriptorChain(head, std::move(buffers));
}

Result<void> Queue::push_used(uint16_t head, uint32_t written) {
    if (!_s.ready) return fail("the queue is not ready");
    if (head >= _s.size) return fail(fmt::format("chain head {} is outside the queue", head));
    uint64_t slot = _s.next_used % _s.size;
    uint32_t element[2] = {head, written};
    TRY(_memory.write(_s.used_addr + 4 + 8 * slot, std::span(reinterpret_cast<const uint8_t*>(element), 8)));
    // The element is visible before the index that publishes it.
    std::atomic_thread_fence(std::memory_order_release);
    ++_s.next_used;
    TRY(_memory.write_obj(_s.used_addr + 2, _s.next_used));
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return {};
}

bool Queue::interrupt_suppressed() const {
    if (!_s.ready) return true;
    auto flags = load<uint16_t>(_memory, _s.avail_addr);
    return flags && (*flags & kAvailNoInterrupt);
}

} // namespace brood::virtio
