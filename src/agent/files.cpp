#include "agent/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>

#include "common/defer.hpp"
#include "common/unique_fd.hpp"

namespace brood::agent {

namespace {

std::string temp_name(const std::string& path) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    char suffix[24];
    std::snprintf(suffix, sizeof suffix, ".tmp-%016llx", static_cast<unsigned long long>(rng()));
    return path + suffix;
}

} // namespace

Result<void> write_file_atomic(const std::string& path, std::string_view data, unsigned mode) {
    std::string tmp = temp_name(path);
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return fail_errno("create " + tmp);
    Defer remove_tmp([&] { ::unlink(tmp.c_str()); });
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("write " + tmp);
        done += static_cast<size_t>(n);
    }
    if (::fchmod(fd.get(), mode & 07777) != 0) return fail_errno("chmod " + tmp);
    if (::fsync(fd.get()) != 0) return fail_errno("fsync " + tmp);
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) return fail_errno("rename to " + path);
    remove_tmp.cancel();
    return {};
}

Result<std::string> read_regular_file(const std::string& path, size_t max) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) return fail_errno("open " + path);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail_errno("stat " + path);
    if (!S_ISREG(st.st_mode)) return fail(path + " is not a regular file", EINVAL);
    if (static_cast<uint64_t>(st.st_size) > max)
        return fail(path + " is " + std::to_string(st.st_size) + " bytes, over the limit of " + std::to_string(max),
                    EFBIG);
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("read " + path);
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
        // A file that grows while we read it.
        if (out.size() > max) return fail(path + " grew over the limit of " + std::to_string(max) + " bytes", EFBIG);
    }
    return out;
}

} // namespace brood::agent
