// Copies an instance directory for a fork: reflink where the file system
// can share extents, else a sparse copy; sockets, logs and staging dirs are
// never copied, nor the paths the caller lists.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "common/file_copy.hpp"
#include "common/result.hpp"

namespace brood::manager {

struct CopyOptions {
    // Relative paths (files or directories) to leave out, e.g.
    // "snapshots/snapshot-latest/memory" when the fork links to a template's.
    std::set<std::string> skip_rel_paths;
    // Tests force the copy without shared extents with Reflink::never.
    Reflink reflink = Reflink::try_first;
};

struct DirCopyStats {
    uint64_t files = 0;
    uint64_t reflinked = 0;
    uint64_t links = 0;
    uint64_t bytes_copied = 0;
};

// Copies `src` into the existing, empty directory `dst`. Symlinks are
// recreated as they are, except that absolute links into `src` are made to
// point at the same place under `dst`. Always skipped: sockets, "logs", "metadata.json"
// (the caller writes a new record), and snapshots/.tmp-*, .old-*, .trash-*.
[[nodiscard]] Result<DirCopyStats> copy_instance_dir(const std::string& src, const std::string& dst,
                                                     const CopyOptions& options = {});

struct SyncStats {
    uint64_t files = 0;
    uint64_t directories = 0;
};

// fsyncs every regular file and directory under `dir`, `dir` included
// (symlinks are not followed), so that a copy is durable before its name
// is published.
[[nodiscard]] Result<SyncStats> sync_tree(const std::string& dir);

} // namespace brood::manager
