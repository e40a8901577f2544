// The copy-on-write disk overlay format. A fork writes its own overlay file
// above a read-only base image; the base is never written.
//
// Layout (little-endian):
//   0     header, 4096 bytes: magic "BROODOVL", version, block size, disk
//         size, block count, bitmap and data offsets, checksum (FNV-1a 64
//         of the bytes before it)
//   4096  allocation bitmap: bit i (byte i/8, bit i%8) set when block i
//         lives in the overlay; bits past the block count are zero
//   data  block i at data_offset + i * block_size (a sparse file: only
//         written blocks take space); data_offset is block-aligned
// Reads of an unallocated block come from the base image. The first write
// to a block copies it up whole (base bytes plus the new ones) before its
// bit is set.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace brood::overlay {

inline constexpr char kMagic[8] = {'B', 'R', 'O', 'O', 'D', 'O', 'V', 'L'};
inline constexpr uint32_t kVersion = 1;
inline constexpr uint64_t kHeaderSize = 4096;
inline constexpr uint32_t kDefaultBlockSize = 64 * 1024;
inline constexpr uint32_t kMinBlockSize = 4096, kMaxBlockSize = 1 << 20;
// Bitmaps stay small enough to hold in memory: 16 TiB at 64 KiB blocks.
inline constexpr uint64_t kMaxBlocks = 1ULL << 28;

struct Header {
    uint32_t version = kVersion;
    uint32_t block_size = kDefaultBlockSize;
    uint64_t disk_size = 0; // bytes, the base image's size
    uint64_t block_count = 0;
    uint64_t bitmap_offset = kHeaderSize;
    uint64_t data_offset = 0;

    uint64_t bitmap_bytes() const { return (block_count + 7) / 8; }
};

// The header of a new overlay for a disk of `disk_size` bytes.
Result<Header> make_header(uint64_t disk_size, uint32_t block_size = kDefaultBlockSize);
std::vector<uint8_t> encode_header(const Header& h);
// Checks everything: magic, version, checksum, sizes and offsets.
Result<Header> decode_header(std::span<const uint8_t> bytes);

// Creates an overlay file (which must not exist) for a base of `disk_size`
// bytes, with an empty bitmap, mode 0600.
Result<void> create(const std::string& path, uint64_t disk_size, uint32_t block_size = kDefaultBlockSize);

} // namespace brood::overlay
