// Where the loader reads a kernel from: bytes already in memory, or a file
// it reads only where it needs to. A file's segments go straight into guest
// memory, so booting a 50 MB vmlinux costs no 50 MB buffer in between.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace brood::loader {

class KernelImage final {
public:
    static KernelImage of(std::span<const uint8_t> bytes) { return KernelImage(bytes); }
    // A regular file; it is read with pread, so the loader never sees bytes
    // past what the file holds when it reads them.
    static Result<KernelImage> open(const std::string& path);

    uint64_t size() const { return _size; }
    // Exactly out.size() bytes from offset: fails if they lie past the end,
    // or if the file no longer has them.
    Result<void> read(uint64_t offset, std::span<uint8_t> out) const;
    // A copy of [offset, offset + length), for headers and notes.
    Result<std::vector<uint8_t>> copy(uint64_t offset, uint64_t length) const;

private:
    explicit KernelImage(std::span<const uint8_t> bytes) : _bytes(bytes), _size(bytes.size()) {}
    KernelImage(UniqueFd fd, uint64_t size, std::string path)
        : _fd(std::move(fd)), _size(size), _path(std::move(path)) {}
    // [offset, offset + length) lies within the image (overflow-safe).
    Result<void> check_range(uint64_t offset, uint64_t length) const;

    std::span<const uint8_t> _bytes; // when in memory
    UniqueFd _fd;                    // when a file
    uint64_t _size = 0;
    std::string _path;
};

} // namespace brood::loader
