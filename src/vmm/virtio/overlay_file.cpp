#include "vmm/virtio/overlay_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

namespace brood::virtio {
namespace {

// The part [skip, skip + len) of a scatter list.
std::vector<std::span<uint8_t>> slice(IoVec iov, uint64_t skip, uint64_t len) {
    std::vector<std::span<uint8_t>> out;
    for (auto s : iov) {
        if (len == 0) break;
        if (skip >= s.size()) {
            skip -= s.size();
            continue;
        }
        uint64_t n = std::min<uint64_t>(s.size() - skip, len);
        out.push_back(s.subspan(skip, n));
        skip = 0;
        len -= n;
    }
    return out;
}

uint64_t total(IoVec iov) {
    uint64_t n = 0;
    for (auto s : iov) n += s.size();
    return n;
}

// Visits each block touched by [offset, offset + len): block, offset in it,
// bytes, offset within the request.
template <typename F>
Result<void> for_each_block(uint64_t block_size, uint64_t offset, uint64_t len, F&& f) {
    uint64_t done = 0;
    while (done < len) {
        uint64_t pos = offset + done;
        uint64_t block = pos / block_size, in_block = pos % block_size;
        uint64_t n = std::min(block_size - in_block, len - done);
        TRY(f(block, in_block, n, done));
        done += n;
    }
    return {};
}

} // namespace

Result<std::unique_ptr<OverlayFile>> OverlayFile::open(const std::string& path, const std::string& base_path,
                                                       bool read_only) {
    auto base = TRY_CTX(RawFile::open(base_path, true), "base image");
    UniqueFd fd(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!fd) return fail_errno(fmt::format("open overlay {}", path));
    struct stat st{};
    if (::fstat(fd.get(), &st) < 0) return fail_errno(fmt::format("stat overlay {}", path));
    if (!S_ISREG(st.st_mode)) return fail(fmt::format("overlay {} is not a regular file", path));
    std::vector<uint8_t> head(overlay::kHeaderSize);
    if (static_cast<uint64_t>(st.st_size) < head.size())
        return fail(fmt::format("overlay {}: overlay file is shorter than its header", path));
    std::span<uint8_t> head_span(head);
    TRY_CTX(pread_all(fd.get(), 0, std::span(&head_span, 1), "read overlay header"), path);
    auto header = TRY_CTX(overlay::decode_header(head), fmt::format("overlay {}", path));
    if (header.disk_size != base->size())
        return fail(fmt::format("overlay {} is for a disk of {} bytes, base {} has {}", path, header.disk_size,
                                base_path, base->size()));
    if (static_cast<uint64_t>(st.st_size) < header.data_offset)
        return fail(fmt::format("overlay {} is truncated (its bitmap is incomplete)", path));
    std::vector<uint8_t> bitmap(header.bitmap_bytes());
    std::span<uint8_t> bitmap_span(bitmap);
    TRY_CTX(pread_all(fd.get(), header.bitmap_offset, std::span(&bitmap_span, 1), "read overlay bitmap"), path);
    if (header.block_count % 8 != 0 && (bitmap.back() >> (header.block_count % 8)) != 0)
        return fail(fmt::format("overlay {} marks blocks past the end of the disk", path));
    return std::unique_ptr<OverlayFile>(
        new OverlayFile(std::move(fd), std::move(base), header, std::move(bitmap), read_only));
}

uint64_t OverlayFile::block_len(uint64_t block) const {
    return std::min<uint64_t>(_header.block_size, _header.disk_size - block * _header.block_size);
}

Result<void> OverlayFile::read(uint64_t offset, IoVec iov) {
    uint64_t len = total(iov);
    if (offset > size() || len > size() - offset) return fail("read past the end of the disk");
    return for_each_block(_header.block_size, offset, len, [&](uint64_t block, uint64_t in_block, uint64_t n,
                                                               uint64_t at) -> Result<void> {
        auto part = slice(iov, at, n);
        if (allocated(block))
            return pread_all(_fd.get(), _header.data_offset + block * _header.block_size + in_block, part,
                             "read overlay");
        return _base->read(block * _header.block_size + in_block, part);
    });
}

Result<void> OverlayFile::write(uint64_t offset, IoVec iov) {
    if (_read_only) return fail("the disk is read-only");
    uint64_t len = total(iov);
    if (offset > size() || len > size() - offset) return fail("write past the end of the disk");
    return for_each_block(_header.block_size, offset, len,
                          [&](uint64_t block, uint64_t in_block, uint64_t n, uint64_t at) -> Result<void> {
                              auto part = slice(iov, at, n);
                              return write_block_part(block, in_block, part);
                          });
}

Result<void> OverlayFile::write_block_part(uint64_t block, uint64_t in_block, IoVec part) {
    uint64_t block_start = _header.data_offset + block * _header.block_size;
    if (allocated(block)) return pwrite_all(_fd.get(), block_start + in_block, part, "write overlay");
    // Copy up: the whole block, base bytes around the new ones, then the bit.
    std::vector<uint8_t> buffer(block_len(block));
    std::span<uint8_t> whole(buffer);
    if (in_block != 0 || total(part) != buffer.size())
        TRY(_base->read(block * _header.block_size, std::span(&whole, 1)));
    uint64_t at = in_block;
    for (auto s : part) {
        std::copy(s.begin(), s.end(), buffer.begin() + static_cast<std::ptrdiff_t>(at));
        at += s.size();
    }
    TRY(pwrite_all(_fd.get(), block_start, std::span(&whole, 1), "write overlay"));
    _bitmap[block / 8] = static_cast<uint8_t>(_bitmap[block / 8] | (1u << (block % 8)));
    std::span<uint8_t> byte(&_bitmap[block / 8], 1);
    return pwrite_all(_fd.get(), _header.bitmap_offset + block / 8, std::span(&byte, 1), "write overlay bitmap");
}

Result<void> OverlayFile::flush() {
    if (_read_only) return {};
    if (::fdatasync(_fd.get()) < 0) return fail_errno("flush overlay");
    return {};
}

} // namespace brood::virtio
