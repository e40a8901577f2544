#include "common/read_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/unique_fd.hpp"

namespace brood {

namespace {

Result<std::string> read_from(int fd, off_t offset, size_t max, const std::string& path) {
    std::string out;
    char buf[16384];
    while (out.size() < max) {
        ssize_t n = ::pread(fd, buf, std::min(sizeof buf, max - out.size()), offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("read " + path);
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
        offset += n;
    }
    return out;
}

} // namespace

Result<std::string> read_file(const std::string& path, size_t max) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return fail_errno("open " + path);
    return read_from(fd.get(), 0, max, path);
}

Result<std::string> read_file_tail(const std::string& path, size_t max) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return fail_errno("open " + path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail_errno("stat " + path);
    off_t start = st.st_size > static_cast<off_t>(max) ? st.st_size - static_cast<off_t>(max) : 0;
    return read_from(fd.get(), start, max, path);
}

} // namespace brood
