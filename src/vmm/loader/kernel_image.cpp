#include "vmm/loader/kernel_image.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace brood::loader {

Result<KernelImage> KernelImage::open(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail(Error::from_errno(fmt::format("cannot read kernel {}", path)));
    struct stat st{};
    if (::fstat(fd.get(), &st) < 0) return fail(Error::from_errno(fmt::format("cannot read kernel {}", path)));
    if (!S_ISREG(st.st_mode)) return fail(fmt::format("cannot read kernel {}: not a regular file", path));
    return KernelImage(std::move(fd), static_cast<uint64_t>(st.st_size), path);
}

Result<void> KernelImage::check_range(uint64_t offset, uint64_t length) const {
    if (offset > _size || length > _size - offset)
        return fail(fmt::format("kernel image is truncated: bytes up to {:#x} are needed, it has {:#x}",
                                offset + length, _size));
    return {};
}

Result<void> KernelImage::read(uint64_t offset, std::span<uint8_t> out) const {
    TRY(check_range(offset, out.size()));
    if (!_fd) {
        if (!out.empty()) std::memcpy(out.data(), _bytes.data() + offset, out.size());
        return {};
    }
    size_t done = 0;
    while (done < out.size()) {
        ssize_t n = ::pread(_fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(Error::from_errno(fmt::format("cannot read kernel {}", _path)));
        if (n == 0)
            return fail(fmt::format("kernel {} shrank while it was read: it ends at {:#x}", _path, offset + done));
        done += static_cast<size_t>(n);
    }
    return {};
}

Result<std::vector<uint8_t>> KernelImage::copy(uint64_t offset, uint64_t length) const {
    TRY(check_range(offset, length)); // before the buffer is sized from `length`
    std::vector<uint8_t> bytes(static_cast<size_t>(length));
    TRY(read(offset, bytes));
    return bytes;
}

} // namespace brood::loader
