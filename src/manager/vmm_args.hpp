// brood-vmm command lines for an instance (docs/interfaces.md).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "manager/image_dirs.hpp"
#include "manager/instance_record.hpp"
#include "manager/layout.hpp"

namespace brood::manager {

// What the VMM is told for a kernel, initrd or disk image path (`writable`
// for a disk it writes). Without one, the path itself.
using ImageArg = std::function<Result<std::string>(const std::string& path, bool writable)>;

Result<std::vector<std::string>> boot_args(const Layout& layout, const InstanceRecord& record,
                                           const ImageArg& image = {});
Result<std::vector<std::string>> restore_args(const Layout& layout, const InstanceRecord& record, Backend backend,
                                              const ImageArg& image = {});

// The image files one VMM gets as open files. arg() opens a path from the
// image directories (beneath its directory, image_dirs.hpp), keeps the file
// and names it as the VMM will find it, /proc/self/fd/N, N counting from
// `first_fd`; a path in the data directory (a fork's own disk layer or
// copy) is broodd's own file and is named as it is. Anything else fails.
class VmmImageFiles final {
public:
    VmmImageFiles(const ImageDirs& images, const Layout& layout, int first_fd)
        : _images(images), _layout(layout), _first_fd(first_fd) {}
    Result<std::string> arg(const std::string& path, bool writable);
    ImageArg as_image_arg() {
        return [this](const std::string& path, bool writable) { return arg(path, writable); };
    }
    // The files, in fd order; they stay open in broodd only until the spawn.
    std::vector<UniqueFd> take() { return std::move(_files); }

private:
    const ImageDirs& _images;
    const Layout& _layout;
    int _first_fd;
    std::vector<UniqueFd> _files;
};

} // namespace brood::manager
