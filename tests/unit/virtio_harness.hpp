// A pretend virtio driver for unit tests: guest RAM, one split queue laid
// out in it, and helpers to put descriptor chains (honest or hostile) on
// the available ring and read the used ring.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "vmm/memory/guest_memory.hpp"
#include "vmm/virtio/queue.hpp"

namespace brood::virtio::test {

constexpr uint64_t kRamSize = 16 << 20;
constexpr uint64_t kDescAddr = 0x10000, kAvailAddr = 0x20000, kUsedAddr = 0x30000;
constexpr uint64_t kDataAddr = 0x100000;
constexpr uint16_t kDescWrite = 2, kDescNext = 1, kDescIndirect = 4;

struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

inline GuestMemory make_memory() {
    auto m = GuestMemory::anonymous(kRamSize);
    EXPECT_TRUE(m.has_value());
    return std::move(*m);
}

class Ring final {
public:
    Ring(GuestMemory& memory, uint16_t size) : _memory(memory), _size(size) {}

    QueueState state() const {
        QueueState s;
        s.size = _size;
        s.ready = true;
        s.desc_addr = kDescAddr;
        s.avail_addr = kAvailAddr;
        s.used_addr = kUsedAddr;
        return s;
    }
    void set_desc(uint16_t index, Desc d) { ASSERT_TRUE(_memory.write_obj(kDescAddr + 16ULL * index, d)); }
    // Puts `head` on the available ring and publishes it.
    void make_available(uint16_t head) {
        ASSERT_TRUE(_memory.write_obj(kAvailAddr + 4 + 2ULL * (_avail_idx % _size), head));
        ++_avail_idx;
        set_avail_idx(_avail_idx);
    }
    // For a ring whose memory was copied from another: chains already made available.
    void assume_available(uint16_t count) { _avail_idx = count; }
    void set_avail_idx(uint16_t idx) { ASSERT_TRUE(_memory.write_obj(kAvailAddr + 2, idx)); }
    uint16_t used_idx() const { return read<uint16_t>(kUsedAddr + 2); }
    // The used element at ring position `slot`: {id, len}.
    std::pair<uint32_t, uint32_t> used(uint16_t slot) const {
        uint64_t at = kUsedAddr + 4 + 8ULL * (slot % _size);
        return {read<uint32_t>(at), read<uint32_t>(at + 4)};
    }
    template <typename T>
    T read(uint64_t gpa) const {
        T v{};
        EXPECT_TRUE(_memory.read(gpa, std::span(reinterpret_cast<uint8_t*>(&v), sizeof(T))));
        return v;
    }

private:
    GuestMemory& _memory;
    uint16_t _size;
    uint16_t _avail_idx = 0;
};

} // namespace brood::virtio::test
