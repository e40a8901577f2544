// The directories a VM's kernel, initrd and disk images may come from
// (broodd --images-dir, repeatable; by default <data-dir>/images).
//
// At create, a named file must resolve, symlinks and all, to a regular file
// inside one of them: anything else is a 400 that names the directories.
// When a VMM starts, broodd opens each such file again beneath its
// directory (openat2 with RESOLVE_BENEATH: no "..", absolute path or
// symlink leads out of it) and hands the VMM the open file, not the path,
// so nothing swapped in between the check and the VMM's read can reach the
// guest.
#pragma once

#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "manager/op_error.hpp"

namespace brood::manager {

class ImageDirs final {
public:
    // Each of `dirs` must be an existing directory; they are kept open.
    static Result<ImageDirs> open(const std::vector<std::string>& dirs);

    // `path`, named as `what` ("kernel", "disks[0]"), made canonical, if it
    // is an absolute path to a regular file inside one of the directories
    // that this process can open (`writable`: for reading and writing).
    OpResult<std::string> check(const std::string& what, const std::string& path, bool writable) const;

    // Opens a path that check() returned, beneath its directory.
    Result<UniqueFd> open_file(const std::string& path, bool writable) const;

    // Whether `path` names something inside one of the directories (by its
    // text: check() has made it canonical).
    bool contains(const std::string& path) const;

    std::string describe() const; // "/a, /b" for messages

private:
    std::vector<std::string> _dirs; // canonical
    std::vector<UniqueFd> _fds;     // O_PATH, one per directory
};

} // namespace brood::manager
