#include "manager/image_dirs.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include <fmt/format.h>

namespace brood::manager {

namespace fs = std::filesystem;

namespace {

// The directory of `dirs` that holds `path`, and `path` relative to it.
std::pair<size_t, std::string> locate(const std::vector<std::string>& dirs, const std::string& path) {
    for (size_t i = 0; i < dirs.size(); ++i) {
        const std::string& d = dirs[i];
        std::string prefix = d == "/" ? d : d + "/";
        if (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0)
            return {i, path.substr(prefix.size())};
    }
    return {dirs.size(), ""};
}

} // namespace

Result<ImageDirs> ImageDirs::open(const std::vector<std::string>& dirs) {
    if (dirs.empty()) return fail("no image directory (--images-dir)");
    ImageDirs out;
    for (const auto& dir : dirs) {
        std::error_code ec;
        auto canonical = fs::canonical(dir, ec);
        if (ec) return fail(fmt::format("image directory {}: {}", dir, ec.message()));
        UniqueFd fd(::open(canonical.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!fd) return fail_errno("image directory " + canonical.string());
        out._dirs.push_back(canonical.string());
        out._fds.push_back(std::move(fd));
    }
    return out;
}

std::string ImageDirs::describe() const {
    std::string text;
    for (const auto& d : _dirs) text += (text.empty() ? "" : ", ") + d;
    return text;
}

bool ImageDirs::contains(const std::string& path) const { return locate(_dirs, path).first < _dirs.size(); }

OpResult<std::string> ImageDirs::check(const std::string& what, const std::string& path, bool writable) const {
    if (path.empty()) return bad_request(what + " is required");
    if (path.front() != '/') return bad_request(what + " must be an absolute path: " + path);
    // Where it leads, symlinks followed, before whether it exists: a path
    // outside says nothing about the host's files.
    std::error_code ec;
    auto resolved = fs::weakly_canonical(path, ec);
    if (ec || !contains(resolved.string()))
        return bad_request(fmt::format("{} {} is outside the image directories ({}); put it in one, or start "
                                       "broodd with --images-dir for its directory",
                                       what, path, describe()));
    struct stat st {};
    if (::stat(resolved.c_str(), &st) != 0) return bad_request(what + " not found: " + path);
    if (!S_ISREG(st.st_mode)) return bad_request(what + " is not a regular file: " + path);
    auto fd = open_file(resolved.string(), writable);
    if (!fd) return bad_request(fmt::format("{} {}: {}", what, path, fd.error().message()));
    return resolved.string();
}

Result<UniqueFd> ImageDirs::open_file(const std::string& path, bool writable) const {
    auto [index, relative] = locate(_dirs, path);
    if (index >= _dirs.size()) return fail(fmt::format("{} is outside the image directories ({})", path, describe()));
    open_how how{};
    how.flags = static_cast<uint64_t>((writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = ::syscall(SYS_openat2, _fds[index].get(), relative.c_str(), &how, sizeof how);
    if (fd < 0) {
        if (errno == EXDEV) return fail(fmt::format("{} leads out of its image directory {}", path, _dirs[index]));
        return fail_errno(fmt::format("open {}{}", path, writable ? " for reading and writing" : ""));
    }
    UniqueFd file(static_cast<int>(fd));
    struct stat st {};
    if (::fstat(file.get(), &st) != 0) return fail_errno("fstat " + path);
    if (!S_ISREG(st.st_mode)) return fail(path + " is not a regular file");
    // O_NONBLOCK only kept a FIFO from blocking the open; reads of a file ignore it, but clear it anyway.
    ::fcntl(file.get(), F_SETFL, ::fcntl(file.get(), F_GETFL) & ~O_NONBLOCK);
    return file;
}

} // namespace brood::manager
