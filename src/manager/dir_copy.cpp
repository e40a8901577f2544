#include "manager/dir_copy.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/file_copy.hpp"
#include "common/unique_fd.hpp"

namespace brood::manager {

namespace fs = std::filesystem;

namespace {

bool always_skipped(const std::string& rel) {
    if (rel == "logs" || rel == "metadata.json") return true;
    std::string name = fs::path(rel).filename().string();
    bool in_snapshots = rel.rfind("snapshots/", 0) == 0;
    return in_snapshots && (name.rfind(".tmp-", 0) == 0 || name.rfind(".old-", 0) == 0 || name.rfind(".trash-", 0) == 0 ||
                           name.rfind(".deleting-", 0) == 0);
}

// An absolute link into the source directory would tie the copy to it:
// point it at the same place in the copy instead.
fs::path rebased(const fs::path& link, const std::string& src, const std::string& dst) {
    if (!link.is_absolute()) return link;
    fs::path rel = link.lexically_normal().lexically_relative(fs::path(src).lexically_normal());
    if (rel.empty() || *rel.begin() == "..") return link;
    return rel == "." ? fs::path(dst) : fs::path(dst) / rel;
}

} // namespace

Result<DirCopyStats> copy_instance_dir(const std::string& src, const std::string& dst, const CopyOptions& options) {
    DirCopyStats stats;
    std::error_code ec;
    fs::recursive_directory_iterator it(src, ec);
    if (ec) return fail("read " + src + ": " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) return fail("walk " + src + ": " + ec.message());
        // Lexically: fs::relative would resolve symlinks (a fork's memory link).
        std::string rel = it->path().lexically_relative(src).string();
        if (always_skipped(rel) || options.skip_rel_paths.count(rel)) {
            if (it->is_directory(ec) && !it->is_symlink(ec)) it.disable_recursion_pending();
            continue;
        }
        std::string target = dst + "/" + rel;
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0) return fail_errno("lstat " + it->path().string());
        if (S_ISDIR(st.st_mode)) {
            if (::mkdir(target.c_str(), st.st_mode & 07777) != 0) return fail_errno("mkdir " + target);
        } else if (S_ISREG(st.st_mode)) {
            auto copied = TRY(copy_file_sparse(it->path().string(), target, st.st_mode & 07777, options.reflink));
            ++stats.files;
            stats.reflinked += copied.reflinked ? 1 : 0;
            stats.bytes_copied += copied.bytes_copied;
        } else if (S_ISLNK(st.st_mode)) {
            auto link = fs::read_symlink(it->path(), ec);
            if (ec) return fail("readlink " + it->path().string() + ": " + ec.message());
            if (::symlink(rebased(link, src, dst).c_str(), target.c_str()) != 0) return fail_errno("symlink " + target);
            ++stats.links;
        }
        // Sockets, fifos and devices are never part of an instance's state.
    }
    return stats;
}

Result<SyncStats> sync_tree(const std::string& dir) {
    SyncStats stats;
    auto sync_one = [&](const std::string& path, bool directory) -> Result<void> {
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (directory ? O_DIRECTORY : 0)));
        if (!fd) return fail_errno("open " + path);
        if (::fsync(fd.get()) != 0) return fail_errno("fsync " + path);
        ++(directory ? stats.directories : stats.files);
        return {};
    };
    std::error_code ec;
    fs::recursive_directory_iterator it(dir, ec);
    if (ec) return fail("read " + dir + ": " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) return fail("walk " + dir + ": " + ec.message());
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0) return fail_errno("lstat " + it->path().string());
        if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) TRY(sync_one(it->path().string(), S_ISDIR(st.st_mode)));
    }
    // Last: the directory's entries for everything synced above.
    TRY(sync_one(dir, true));
    return stats;
}

} // namespace brood::manager
