// The snapshot state file container (docs/snapshot-format.md): a header with
// magic, format version and architecture, versioned sections, and a CRC32.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace brood::snapshot {

constexpr char kMagic[8] = {'B', 'R', 'O', 'O', 'D', 'S', 'N', 'P'};
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kArchX86_64 = 1;
constexpr uint64_t kMaxStateFileSize = 64ull << 20;

// A section's id and version say which component wrote it and how; the
// component's codec (see persist.hpp) is the only code that reads it.
struct Section {
    uint32_t id;
    uint32_t version;
    std::vector<uint8_t> payload;
};

// Encodes header + sections + checksum.
std::vector<uint8_t> encode_state_file(const std::vector<Section>& sections);
// Validates the header, framing and checksum, and splits a state file into
// its sections; the error names what is wrong.
Result<std::vector<Section>> decode_state_file(std::span<const uint8_t> file);

// Reads a state file from disk, refusing files above kMaxStateFileSize.
Result<std::vector<uint8_t>> read_state_file(const std::string& path);
// write tmp + fsync + rename: the path holds the old file or the whole new one.
Result<void> write_file_atomically(const std::string& path, std::span<const uint8_t> bytes);

} // namespace brood::snapshot
