#include "common/file_copy.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/unique_fd.hpp"

namespace brood {

Result<void> for_each_data_extent(int fd, const std::function<Result<void>(uint64_t, uint64_t)>& fn) {
    struct stat st{};
    if (::fstat(fd, &st) < 0) return fail_errno("fstat");
    off_t end = st.st_size;
    off_t pos = 0;
    while (pos < end) {
        off_t data = ::lseek(fd, pos, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO) break; // only a hole remains
            return fail_errno("lseek SEEK_DATA");
        }
        off_t hole = ::lseek(fd, data, SEEK_HOLE);
        if (hole < 0) return fail_errno("lseek SEEK_HOLE");
        TRY(fn(static_cast<uint64_t>(data), static_cast<uint64_t>(hole - data)));
        pos = hole;
    }
    return {};
}

Result<CopyStats> copy_fd_sparse(int src_fd, int dst_fd, Reflink reflink) {
    struct stat st{};
    if (::fstat(src_fd, &st) < 0) return fail_errno("fstat source");
    if (reflink == Reflink::try_first && ::ioctl(dst_fd, FICLONE, src_fd) == 0) return CopyStats{true, 0};
    if (::ftruncate(dst_fd, st.st_size) < 0) return fail_errno("ftruncate destination");
    CopyStats stats;
    TRY(for_each_data_extent(src_fd, [&](uint64_t offset, uint64_t length) -> Result<void> {
        loff_t in = static_cast<loff_t>(offset), out = static_cast<loff_t>(offset);
        uint64_t left = length;
        while (left > 0) {
            ssize_t n = ::copy_file_range(src_fd, &in, dst_fd, &out, left, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return fail_errno("copy_file_range");
            if (n == 0) break; // source shrank under us
            left -= static_cast<uint64_t>(n);
            stats.bytes_copied += static_cast<uint64_t>(n);
        }
        return {};
    }));
    return stats;
}

Result<CopyStats> copy_file_sparse(const std::string& src, const std::string& dst, unsigned mode, Reflink reflink) {
    UniqueFd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in) return fail(Error::from_errno(fmt::format("open {}", src)));
    UniqueFd out(::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!out) return fail(Error::from_errno(fmt::format("create {}", dst)));
    auto stats = copy_fd_sparse(in.get(), out.get(), reflink);
    if (!stats) {
        ::unlink(dst.c_str());
        return fail(std::move(stats.error()).context(fmt::format("copy {} to {}", src, dst)));
    }
    return stats;
}

} // namespace brood
