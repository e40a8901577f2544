#include "vmm/virtio/block_backend.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include <fmt/format.h>

namespace brood::virtio {
namespace {

template <typename Op>
Result<void> transfer_all(uint64_t offset, IoVec iov, const std::string& what, Op op) {
    std::vector<iovec> v;
    for (auto s : iov)
        if (!s.empty()) v.push_back({s.data(), s.size()});
    size_t first = 0;
    while (first < v.size()) {
        int count = static_cast<int>(std::min<size_t>(v.size() - first, IOV_MAX));
        ssize_t n = op(v.data() + first, count, static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno(what);
        }
        if (n == 0) return fail(fmt::format("{}: unexpected end of file", what));
        offset += static_cast<uint64_t>(n);
        auto left = static_cast<size_t>(n);
        while (first < v.size() && left >= v[first].iov_len) left -= v[first++].iov_len;
        if (first < v.size()) {
            v[first].iov_base = static_cast<uint8_t*>(v[first].iov_base) + left;
            v[first].iov_len -= left;
        }
    }
    return {};
}

} // namespace

Result<void> pread_all(int fd, uint64_t offset, IoVec iov, const std::string& what) {
    return transfer_all(offset, iov, what, [fd](const iovec* v, int n, off_t off) { return ::preadv(fd, v, n, off); });
}

Result<void> pwrite_all(int fd, uint64_t offset, IoVec iov, const std::string& what) {
    return transfer_all(offset, iov, what,
                        [fd](const iovec* v, int n, off_t off) { return ::pwritev(fd, v, n, off); });
}

Result<std::unique_ptr<RawFile>> RawFile::open(const std::string& path, bool read_only) {
    UniqueFd fd(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!fd) return fail_errno(fmt::format("open disk {}", path));
    struct stat st{};
    if (::fstat(fd.get(), &st) < 0) return fail_errno(fmt::format("stat disk {}", path));
    if (!S_ISREG(st.st_mode)) return fail(fmt::format("disk {} is not a regular file", path));
    auto size = static_cast<uint64_t>(st.st_size);
    if (size == 0 || size % 512 != 0)
        return fail(fmt::format("disk {} has {} bytes, not a positive multiple of 512", path, size));
    // The serial tells disks apart; device and inode name this file.
    auto serial = fmt::format("brood-{:x}-{:x}", st.st_dev, st.st_ino).substr(0, 20);
    return std::unique_ptr<RawFile>(new RawFile(std::move(fd), size, read_only, std::move(serial)));
}

Result<void> RawFile::read(uint64_t offset, IoVec iov) { return pread_all(_fd.get(), offset, iov, "read disk"); }

Result<void> RawFile::write(uint64_t offset, IoVec iov) {
    if (_read_only) return fail("the disk is read-only");
    return pwrite_all(_fd.get(), offset, iov, "write disk");
}

Result<void> RawFile::flush() {
    if (_read_only) return {};
    if (::fdatasync(_fd.get()) < 0) return fail_errno("flush disk");
    return {};
}

} // namespace brood::virtio
