// Guest RAM: one contiguous host mapping, seen by the guest as one or two
// physical regions (below the 32-bit MMIO gap, and above 4 GiB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <span>
#include <vector>

#include "common/mapping.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace brood {

struct GuestRegion {
    uint64_t guest_addr = 0;  // guest-physical start
    uint64_t size = 0;        // bytes
    uint64_t host_offset = 0; // offset into the host mapping (and memory file)
};

// Guest-physical layout for a given RAM size. Pure; no memory is touched.
class GuestLayout final {
public:
    static constexpr uint64_t kMmioGapStart = 0xC000'0000ULL; // 3 GiB
    static constexpr uint64_t kHighStart = 0x1'0000'0000ULL;  // 4 GiB

    explicit GuestLayout(uint64_t ram_size);

    uint64_t ram_size() const { return _ram_size; }
    const std::vector<GuestRegion>& regions() const { return _regions; }
    // Host offset of [gpa, gpa+len), or an error when it is not all RAM.
    Result<uint64_t> offset_of(uint64_t gpa, uint64_t len) const;
    // The end of the region that starts at 0 (RAM below the MMIO gap).
    uint64_t low_ram_end() const { return _regions.front().size; }

private:
    uint64_t _ram_size;
    std::vector<GuestRegion> _regions;
};

// A memory file mapped MAP_PRIVATE: reads come from its page cache, writes
// make private copies, the file is never written.
struct MemoryBacking {
    std::string path;
    UniqueFd fd;
};

class GuestMemory final {
public:
    GuestMemory(GuestLayout layout, Mapping mapping, std::optional<MemoryBacking> backing = std::nullopt)
        : _layout(std::move(layout)), _mapping(std::move(mapping)), _backing(std::move(backing)) {}

    // Private anonymous RAM of the given size.
    static Result<GuestMemory> anonymous(uint64_t ram_size);
    // RAM that maps `path` copy-on-write; the file's size must equal ram_size.
    static Result<GuestMemory> private_file(const std::string& path, uint64_t ram_size);
    // Anonymous RAM filled from the file's data extents (holes stay untouched).
    static Result<GuestMemory> copy_of_file(const std::string& path, uint64_t ram_size);

    const std::optional<MemoryBacking>& backing() const { return _backing; }

    const GuestLayout& layout() const { return _layout; }
    uint64_t size() const { return _layout.ram_size(); }
    uint8_t* host_base() const { return _mapping.data(); }
    Mapping& mapping() { return _mapping; }

    // Bounds-checked access by guest-physical address.
    Result<std::span<uint8_t>> span(uint64_t gpa, uint64_t len);
    Result<void> write(uint64_t gpa, std::span<const uint8_t> bytes);
    template <typename T>
    Result<void> write_obj(uint64_t gpa, const T& obj) {
        return write(gpa, std::span(reinterpret_cast<const uint8_t*>(&obj), sizeof(T)));
    }
    Result<void> read(uint64_t gpa, std::span<uint8_t> out) const;

private:
    GuestLayout _layout;
    Mapping _mapping;
    std::optional<MemoryBacking> _backing;
};

} // namespace brood
