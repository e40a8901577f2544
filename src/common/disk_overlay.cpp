#include "common/disk_overlay.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "common/unique_fd.hpp"

namespace brood::overlay {
namespace {

constexpr size_t kChecksumOffset = 48;

uint64_t fnv1a(std::span<const uint8_t> bytes) {
    uint64_t h = 0xcbf2'9ce4'8422'2325ULL;
    for (uint8_t b : bytes) h = (h ^ b) * 0x100'0000'01b3ULL;
    return h;
}

template <typename T>
void put(std::vector<uint8_t>& out, size_t at, T v) { std::memcpy(out.data() + at, &v, sizeof(T)); }
template <typename T>
T get(std::span<const uint8_t> in, size_t at) {
    T v;
    std::memcpy(&v, in.data() + at, sizeof(T));
    return v;
}

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

} // namespace

Result<Header> make_header(uint64_t disk_size, uint32_t block_size) {
    if (block_size < kMinBlockSize || block_size > kMaxBlockSize || !std::has_single_bit(block_size))
        return fail(fmt::format("overlay block size {} is not a power of two from {} to {}", block_size,
                                kMinBlockSize, kMaxBlockSize));
    if (disk_size == 0 || disk_size % 512 != 0)
        return fail(fmt::format("disk size {} is not a positive multiple of 512", disk_size));
    Header h;
    h.block_size = block_size;
    h.disk_size = disk_size;
    h.block_count = (disk_size + block_size - 1) / block_size;
    if (h.block_count > kMaxBlocks) return fail(fmt::format("disk of {} bytes is too large for an overlay", disk_size));
    h.data_offset = align_up(kHeaderSize + h.bitmap_bytes(), block_size);
    return h;
}

std::vector<uint8_t> encode_header(const Header& h) {
    std::vector<uint8_t> out(kHeaderSize, 0);
    std::memcpy(out.data(), kMagic, sizeof(kMagic));
    put(out, 8, h.version);
    put(out, 12, h.block_size);
    put(out, 16, h.disk_size);
    put(out, 24, h.block_count);
    put(out, 32, h.bitmap_offset);
    put(out, 40, h.data_offset);
    put(out, kChecksumOffset, fnv1a(std::span(out).first(kChecksumOffset)));
    return out;
}

Result<Header> decode_header(std::span<const uint8_t> bytes) {
    if (bytes.size() < kHeaderSize) return fail("overlay file is shorter than its header");
    if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) return fail("not an overlay file (bad magic)");
    if (get<uint64_t>(bytes, kChecksumOffset) != fnv1a(bytes.first(kChecksumOffset)))
        return fail("overlay header checksum does not match");
    Header h;
    h.version = get<uint32_t>(bytes, 8);
    if (h.version != kVersion) return fail(fmt::format("overlay version {} is not supported ({})", h.version, kVersion));
    h.block_size = get<uint32_t>(bytes, 12);
    h.disk_size = get<uint64_t>(bytes, 16);
    h.block_count = get<uint64_t>(bytes, 24);
    h.bitmap_offset = get<uint64_t>(bytes, 32);
    h.data_offset = get<uint64_t>(bytes, 40);
    // Every derived field must be what make_header derives.
    auto expected = TRY_CTX(make_header(h.disk_size, h.block_size), "overlay header");
    if (h.block_count != expected.block_count || h.bitmap_offset != expected.bitmap_offset ||
        h.data_offset != expected.data_offset)
        return fail("overlay header fields are inconsistent");
    return h;
}

Result<void> create(const std::string& path, uint64_t disk_size, uint32_t block_size) {
    auto h = TRY(make_header(disk_size, block_size));
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return fail(Error::from_errno(fmt::format("create overlay {}", path)));
    auto header = encode_header(h);
    bool ok = ::pwrite(fd.get(), header.data(), header.size(), 0) == static_cast<ssize_t>(header.size()) &&
              ::ftruncate(fd.get(), static_cast<off_t>(h.data_offset)) == 0 && ::fsync(fd.get()) == 0;
    if (!ok) {
        auto e = Error::from_errno(fmt::format("write overlay {}", path));
        ::unlink(path.c_str());
        return fail(e);
    }
    return {};
}

} // namespace brood::overlay
