// Where a virtio-blk device's sectors live: a raw image file, or a
// copy-on-write overlay above a read-only base (overlay_file.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace brood::virtio {

using IoVec = std::span<const std::span<uint8_t>>;

class BlockBackend {
public:
    virtual ~BlockBackend() = default;
    virtual uint64_t size() const = 0; // bytes, a multiple of 512
    virtual bool read_only() const = 0;
    // [offset, offset + total of iov) lies inside size(); callers check.
    virtual Result<void> read(uint64_t offset, IoVec iov) = 0;
    virtual Result<void> write(uint64_t offset, IoVec iov) = 0;
    // Makes every completed write durable (fsync).
    virtual Result<void> flush() = 0;
    // What the guest sees as the disk's serial (at most 20 bytes).
    virtual std::string serial() const = 0;
};

// A raw image: sector n at byte n * 512. Its size must be a multiple of 512.
class RawFile final : public BlockBackend {
public:
    static Result<std::unique_ptr<RawFile>> open(const std::string& path, bool read_only);

    uint64_t size() const override { return _size; }
    bool read_only() const override { return _read_only; }
    Result<void> read(uint64_t offset, IoVec iov) override;
    Result<void> write(uint64_t offset, IoVec iov) override;
    Result<void> flush() override;
    std::string serial() const override { return _serial; }
    int fd() const { return _fd.get(); }

private:
    RawFile(UniqueFd fd, uint64_t size, bool read_only, std::string serial)
        : _fd(std::move(fd)), _size(size), _read_only(read_only), _serial(std::move(serial)) {}
    UniqueFd _fd;
    uint64_t _size;
    bool _read_only;
    std::string _serial;
};

// Whole-buffer positional I/O on an fd, retrying short transfers.
Result<void> pread_all(int fd, uint64_t offset, IoVec iov, const std::string& what);
Result<void> pwrite_all(int fd, uint64_t offset, IoVec iov, const std::string& what);

} // namespace brood::virtio
