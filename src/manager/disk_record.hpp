// An instance's disks as its record keeps them, how they are checked at
// create, how the VMM is told of them, and how a fork gets its own.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/result.hpp"
#include "manager/image_dirs.hpp"
#include "manager/op_error.hpp"

namespace brood::manager {

struct DiskRecord {
    std::string path;       // a raw image, or (with base) the instance's overlay layer
    bool read_only = false;
    std::string base;       // set: `path` is a copy-on-write overlay above this read-only image
    bool operator==(const DiskRecord&) const = default;
};

nlohmann::json to_json(const DiskRecord& disk);
DiskRecord disk_from_json(const nlohmann::json& json); // throws on malformed input

// A disk named at create: a regular file in one of the image directories
// (image_dirs.hpp), readable (and writable unless read-only), a whole
// number of 512-byte sectors. Returns it with its canonical path.
OpResult<DiskRecord> check_disk(const DiskRecord& disk, size_t index, const ImageDirs& images);

// brood-vmm's --disk value for it.
std::string vmm_disk_arg(const DiskRecord& disk);

// The disks of a fork of an instance with `source` disks. Read-only disks
// are shared. Writable ones get a file in `staging_dir` (named for
// `final_dir`, where the staging directory will be renamed to):
//  - share_base (template forks): a reflink copy of a raw image where the
//    file system allows, else an overlay above it (the image becomes a
//    read-only base); a source overlay is copied (reflink first) and keeps
//    its base.
//  - otherwise: a whole copy (reflink first) of the raw image or overlay.
// The source's files are never written.
Result<std::vector<DiskRecord>> fork_disks(const std::vector<DiskRecord>& source, const std::string& staging_dir,
                                           const std::string& final_dir, bool share_base);

} // namespace brood::manager
