// Copying files the way snapshots need: reflink (FICLONE) when the file
// system can share extents, otherwise a sparse copy that keeps holes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/result.hpp"

namespace brood {

struct CopyStats {
    bool reflinked = false;
    uint64_t bytes_copied = 0; // data bytes read and written (0 when reflinked)
};

// Whether a copy may share extents (FICLONE) before it falls back to
// copying data; `never` forces the sparse copy.
enum class Reflink { try_first, never };

// Copies the contents of `src_fd` into `dst_fd` (already open, empty).
Result<CopyStats> copy_fd_sparse(int src_fd, int dst_fd, Reflink reflink = Reflink::try_first);
// Copies src to dst (created with `mode`, must not exist).
Result<CopyStats> copy_file_sparse(const std::string& src, const std::string& dst, unsigned mode = 0644,
                                   Reflink reflink = Reflink::try_first);

// Calls fn(offset, length) for each data extent of the file (SEEK_DATA/SEEK_HOLE).
Result<void> for_each_data_extent(int fd, const std::function<Result<void>(uint64_t, uint64_t)>& fn);

} // namespace brood
