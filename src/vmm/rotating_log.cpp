#include "vmm/rotating_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

namespace brood {
namespace {

Result<UniqueFd> open_append(int dir, const std::string& name) {
    UniqueFd fd(::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640));
    if (!fd) return fail_errno(fmt::format("open log {}", name));
    return fd;
}

} // namespace

Result<RotatingLog> RotatingLog::open(std::string path, uint64_t cap) {
    if (cap == 0) return fail("a log's cap must be above zero");
    const size_t slash = path.rfind('/');
    const std::string dir_path = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (name.empty()) return fail(fmt::format("log {} names no file", path));
    UniqueFd dir(::open(dir_path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return fail_errno(fmt::format("open the directory of log {}", path));
    auto fd = TRY_CTX(open_append(dir.get(), name), path);
    struct stat st{};
    if (::fstat(fd.get(), &st) < 0) return fail_errno(fmt::format("stat {}", path));
    if (!S_ISREG(st.st_mode)) return fail(fmt::format("log {} is not a regular file", path));
    RotatingLog log(std::move(path), std::move(dir), std::move(name), cap, std::move(fd),
                    static_cast<uint64_t>(st.st_size));
    if (log._size >= cap) log.rotate();
    return log;
}

void RotatingLog::write(std::span<const uint8_t> bytes) {
    while (!bytes.empty() && _fd) {
        if (_size >= _cap) rotate();
        if (!_fd) return;
        size_t n = static_cast<size_t>(std::min<uint64_t>(bytes.size(), _cap - _size));
        ssize_t w = ::write(_fd.get(), bytes.data(), n);
        if (w <= 0) return;
        _size += static_cast<uint64_t>(w);
        bytes = bytes.subspan(static_cast<size_t>(w));
    }
}

void RotatingLog::rotate() {
    std::string older = _name + ".1";
    // A failed rename keeps appending nowhere: better than an unbounded file.
    if (::renameat(_dir.get(), _name.c_str(), _dir.get(), older.c_str()) < 0) {
        _fd.reset();
        return;
    }
    auto fd = open_append(_dir.get(), _name);
    if (!fd) {
        _fd.reset();
        return;
    }
    _fd = std::move(*fd);
    _size = 0;
}

} // namespace brood
