#include "common/dir_swap.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "common/unique_fd.hpp"

namespace brood {

namespace fs = std::filesystem;

namespace {

Result<void> fsync_path(const std::string& path, int flags) {
    UniqueFd fd(::open(path.c_str(), flags | O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open " + path);
    if (::fsync(fd.get()) != 0) return fail_errno("fsync " + path);
    return {};
}

std::string parent_of(const std::string& path) {
    std::string parent = fs::path(path).parent_path().string();
    return parent.empty() ? "." : parent;
}

Result<void> fault_at(const SwapFaultHook& fault, std::string_view step) {
    if (!fault) return {};
    auto injected = fault(step);
    if (!injected) return fail(std::move(injected.error()).context(std::string(step)));
    return {};
}

// In the same directory, named so that a crash recovery can find it.
std::string aside_name(const std::string& target) {
    std::random_device rd;
    return parent_of(target) + "/.old-" + std::to_string(rd());
}

Result<void> swap_aside(const std::string& staged, const std::string& target, const SwapFaultHook& fault) {
    std::string aside;
    if (::access(target.c_str(), F_OK) == 0) {
        aside = aside_name(target);
        TRY(fault_at(fault, "aside"));
        if (::rename(target.c_str(), aside.c_str()) != 0) return fail_errno("move " + target + " aside");
    }
    auto installed = fault_at(fault, "install");
    if (installed && ::rename(staged.c_str(), target.c_str()) != 0)
        installed = fail(Error::from_errno("rename " + staged + " to " + target));
    if (!installed) {
        if (!aside.empty()) (void)::rename(aside.c_str(), target.c_str()); // put the old one back
        return installed;
    }
    TRY(fsync_path(parent_of(target), O_DIRECTORY));
    std::error_code ec;
    if (!aside.empty()) fs::remove_all(aside, ec);
    return {};
}

} // namespace

Result<void> sync_dir_files(const std::string& dir) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.is_regular_file(ec) && !entry.is_symlink(ec)) TRY(fsync_path(entry.path().string(), 0));
    }
    if (ec) return fail("list " + dir + ": " + ec.message());
    return fsync_path(dir, O_DIRECTORY);
}

Result<void> swap_in_dir(const std::string& staged, const std::string& target, SwapMethod method,
                         const SwapFaultHook& fault) {
    if (method == SwapMethod::aside) return swap_aside(staged, target, fault);
    TRY(fault_at(fault, "swap"));
    if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) {
        if (errno == ENOENT && ::access(staged.c_str(), F_OK) == 0) {
            // No old directory: a plain rename is the single step.
            if (::rename(staged.c_str(), target.c_str()) != 0)
                return fail(Error::from_errno("rename " + staged + " to " + target));
            return fsync_path(parent_of(target), O_DIRECTORY);
        }
        if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) return swap_aside(staged, target, fault);
        return fail(Error::from_errno("exchange " + staged + " with " + target));
    }
    // The old directory now sits at `staged`: drop it once the swap is durable.
    TRY(fsync_path(parent_of(target), O_DIRECTORY));
    std::error_code ec;
    fs::remove_all(staged, ec);
    return {};
}

} // namespace brood
