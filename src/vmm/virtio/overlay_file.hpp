// A disk made of a copy-on-write overlay (common/disk_overlay.hpp) above a
// base image opened read-only: the base is never written.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/disk_overlay.hpp"
#include "vmm/virtio/block_backend.hpp"

namespace brood::virtio {

class OverlayFile final : public BlockBackend {
public:
    // Checks the overlay against the base (sizes must match) and loads its
    // bitmap. `read_only` opens the overlay read-only too.
    static Result<std::unique_ptr<OverlayFile>> open(const std::string& path, const std::string& base_path,
                                                     bool read_only);

    uint64_t size() const override { return _header.disk_size; }
    bool read_only() const override { return _read_only; }
    Result<void> read(uint64_t offset, IoVec iov) override;
    Result<void> write(uint64_t offset, IoVec iov) override;
    Result<void> flush() override;
    std::string serial() const override { return _base->serial(); }

    bool allocated(uint64_t block) const { return (_bitmap[block / 8] >> (block % 8)) & 1; }

private:
    OverlayFile(UniqueFd fd, std::unique_ptr<RawFile> base, overlay::Header header, std::vector<uint8_t> bitmap,
                bool read_only)
        : _fd(std::move(fd)), _base(std::move(base)), _header(header), _bitmap(std::move(bitmap)),
          _read_only(read_only) {}
    uint64_t block_len(uint64_t block) const;
    Result<void> write_block_part(uint64_t block, uint64_t in_block, IoVec part);

    UniqueFd _fd;
    std::unique_ptr<RawFile> _base;
    overlay::Header _header;
    std::vector<uint8_t> _bitmap;
    bool _read_only;
};

} // namespace brood::virtio
