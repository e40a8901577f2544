#include "manager/snapshot_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "common/dir_swap.hpp"
#include "common/unique_fd.hpp"
#include "manager/atomic_file.hpp"
#include "manager/names.hpp"

namespace brood::manager {

namespace fs = std::filesystem;

namespace {

Result<void> fsync_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open " + path);
    if (::fsync(fd.get()) != 0) return fail_errno("fsync " + path);
    return {};
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

} // namespace

Result<std::string> stage_snapshot_dir(const Layout& layout, const std::string& id) {
    std::string dir = layout.snapshots_dir(id) + "/.tmp-" + new_id();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return fail("create " + dir + ": " + ec.message());
    return dir;
}

Result<void> install_snapshot(const Layout& layout, const std::string& id, const std::string& staged,
                              const SwapFaultHook& fault) {
    TRY(fsync_file(staged + "/state"));
    TRY(fsync_file(staged + "/memory"));
    TRY(fsync_dir(staged));
    return swap_in_dir(staged, layout.snapshot_dir(id), SwapMethod::exchange, fault);
}

Result<void> drop_snapshot(const Layout& layout, const std::string& id) {
    std::error_code ec;
    std::string root = layout.snapshots_dir(id);
    if (!fs::exists(fs::symlink_status(root, ec))) return {};
    std::string latest = layout.snapshot_dir(id);
    if (fs::exists(fs::symlink_status(latest, ec)))
        TRY(rename_durable(latest, root + "/.deleting-" + new_id()));
    fs::remove_all(root, ec);
    if (ec) return fail("remove " + root + ": " + ec.message());
    return {};
}

void recover_snapshot_dirs(const Layout& layout, const std::string& id) {
    std::error_code ec;
    std::string root = layout.snapshots_dir(id);
    if (!fs::is_directory(root, ec)) return;
    std::string latest = layout.snapshot_dir(id);
    bool have_latest = fs::exists(latest, ec);
    std::vector<fs::path> entries;
    for (const auto& entry : fs::directory_iterator(root, ec)) entries.push_back(entry.path());
    for (const auto& path : entries) {
        std::string name = path.filename().string();
        if (starts_with(name, ".old-") && !have_latest) {
            if (rename_durable(path.string(), latest)) have_latest = true;
            continue;
        }
        if (!starts_with(name, ".tmp-") && !starts_with(name, ".old-") && !starts_with(name, ".trash-") &&
            !starts_with(name, ".deleting-"))
            continue;
        // A VMM may still be writing into a staging directory (its snapshot
        // call outlived the daemon): move it away first, so the VMM's later
        // creates and renames by path fail instead of refilling it.
        fs::path trash = path;
        if (!starts_with(name, ".trash-")) {
            trash = path.parent_path() / (".trash-" + new_id());
            fs::rename(path, trash, ec);
            if (ec) trash = path;
        }
        fs::remove_all(trash, ec);
    }
}

} // namespace brood::manager
