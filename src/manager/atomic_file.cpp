#include "manager/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "common/unique_fd.hpp"
#include "manager/names.hpp"

namespace brood::manager {

namespace {

std::string parent_of(const std::string& path) {
    std::string parent = std::filesystem::path(path).parent_path().string();
    return parent.empty() ? "." : parent;
}

} // namespace

Result<void> fsync_dir(const std::string& dir) {
    UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return fail_errno("open directory " + dir);
    if (::fsync(fd.get()) != 0) return fail_errno("fsync directory " + dir);
    return {};
}

Result<void> write_file_atomic(const std::string& path, std::string_view content, int mode) {
    std::string tmp = path + ".tmp-" + new_id();
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!fd) return fail_errno("create " + tmp);
    auto cleanup = [&] { ::unlink(tmp.c_str()); };
    while (!content.empty()) {
        ssize_t n = ::write(fd.get(), content.data(), content.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            Error e = Error::from_errno("write " + tmp);
            cleanup();
            return fail(std::move(e));
        }
        content.remove_prefix(static_cast<size_t>(n));
    }
    if (::fsync(fd.get()) != 0) {
        Error e = Error::from_errno("fsync " + tmp);
        cleanup();
        return fail(std::move(e));
    }
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        Error e = Error::from_errno("rename " + tmp);
        cleanup();
        return fail(std::move(e));
    }
    return fsync_dir(parent_of(path));
}

Result<std::string> read_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open " + path);
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("read " + path);
        if (n == 0) return out;
        out.append(buf, static_cast<size_t>(n));
    }
}

Result<void> rename_durable(const std::string& from, const std::string& to) {
    if (::rename(from.c_str(), to.c_str()) != 0) return fail_errno("rename " + from + " to " + to);
    TRY(fsync_dir(parent_of(to)));
    if (parent_of(from) != parent_of(to)) TRY(fsync_dir(parent_of(from)));
    return {};
}

} // namespace brood::manager
