#include "vmm/jail/jail.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <filesystem>

#include <fmt/format.h>

#include "common/unique_fd.hpp"
#include "vmm/jail/seccomp_policy.hpp"

namespace brood::jail {
namespace {

constexpr int kHighestCapability = 63; // past the kernel's last one, PR_CAPBSET_DROP says EINVAL

Result<void> drop_bounding_set() {
    for (int cap = 0; cap <= kHighestCapability; ++cap) {
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            return fail_errno(fmt::format("drop capability {} from the bounding set", cap));
    }
    return {};
}

// Empties the calling thread's effective, permitted and inheritable sets.
Result<void> drop_capabilities() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capset, &header, data) != 0) return fail_errno("capset");
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return fail_errno("clear the ambient capabilities");
    return {};
}

Result<void> become(uid_t uid, gid_t gid) {
    // The C library applies each of these to every thread of the process.
    if (::setgroups(0, nullptr) != 0) return fail_errno("setgroups");
    if (::setresgid(gid, gid, gid) != 0) return fail_errno(fmt::format("setresgid {}", gid));
    if (::setresuid(uid, uid, uid) != 0) return fail_errno(fmt::format("setresuid {}", uid));
    uid_t r = 0, e = 0, s = 0;
    if (::getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid)
        return fail(fmt::format("the uid did not change to {}", uid));
    return {};
}

// Makes `dir` the root of this mount namespace and the working directory:
// a bind mount of it onto itself becomes the new root (pivot_root), and the
// old root is detached, so no host path outside `dir` resolves any more.
// Descriptors opened before stay valid. Where the host's root is the
// initial ramfs, which pivot_root refuses (EINVAL), the bind mount is moved
// onto / and the process chroots into it, as switch_root does; without
// capabilities, which lock_down() drops next, it cannot chroot back out.
Result<void> change_root(const std::string& dir) {
    if (::mount(dir.c_str(), dir.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
        return fail_errno("bind mount it onto itself");
    if (::chdir(dir.c_str()) != 0) return fail_errno("enter it"); // the bind mount, not the directory under it
    if (::syscall(SYS_pivot_root, ".", ".") == 0) {
        if (::umount2(".", MNT_DETACH) != 0) return fail_errno("detach the old root");
    } else {
        if (errno != EINVAL) return fail_errno("pivot_root");
        if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0) return fail_errno("move it onto / (no pivot_root)");
        if (::chroot(".") != 0) return fail_errno("chroot");
    }
    if (::chdir("/") != 0) return fail_errno("chdir /");
    return {};
}

size_t thread_count() {
    std::error_code ec;
    size_t n = 0;
    std::filesystem::directory_iterator it("/proc/self/task", ec), end;
    for (; !ec && it != end; it.increment(ec)) ++n;
    return n;
}

} // namespace

Result<void> check(const JailConfig& config) {
    if ((config.uid || config.gid || !config.dir.empty() || !config.cgroups.empty()) && !config.enabled)
        return fail("--jail-uid, --jail-gid, --jail-dir and --jail-cgroup need --jail");
    if (!config.dir.empty() && config.dir.front() != '/') return fail("--jail-dir must be an absolute path");
    if (config.uid.has_value() != config.gid.has_value()) return fail("--jail-uid and --jail-gid go together");
    if (config.uid && (*config.uid == 0 || *config.gid == 0)) return fail("the jail's uid and gid must not be 0");
    return {};
}

Result<void> enter_namespaces(const JailConfig& config) {
    if (!config.enabled) return {};
    // "0" written to v1's `tasks` moves the writing thread only: the others
    // would stay outside the limits.
    if (!config.cgroups.empty() && thread_count() != 1)
        return fail("--jail-cgroup: the process must have one thread when it joins its cgroups");
    for (const auto& file : config.cgroups) {
        UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd || ::write(fd.get(), "0", 1) != 1) return fail_errno(fmt::format("--jail-cgroup {}: join it", file));
    }
    if (::unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS) != 0)
        return fail_errno("--jail: new mount, IPC and UTS namespaces (brood-vmm needs CAP_SYS_ADMIN for them)");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return fail_errno("--jail: make every mount private");
    static constexpr char kHostname[] = "brood-vmm";
    if (::sethostname(kHostname, sizeof(kHostname) - 1) != 0) return fail_errno("--jail: sethostname");
    // Paths that stay in use once the box is closed (the vsock socket's
    // siblings) are relative to the jail directory, from the start.
    if (!config.dir.empty() && ::chdir(config.dir.c_str()) != 0)
        return fail_errno(fmt::format("--jail-dir {}", config.dir));
    return {};
}

std::string local_path(const JailConfig& config, const std::string& path) {
    if (config.dir.empty()) return path;
    std::string prefix = config.dir;
    while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    prefix += '/';
    if (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0) return path.substr(prefix.size());
    return path;
}

Result<void> lock_down(const JailConfig& config) {
    if (!config.enabled) return {};
    ::tzset(); // log lines format local time: read the zone while files are still reachable
    if (!config.dir.empty()) TRY_CTX(change_root(config.dir), "--jail-dir " + config.dir);
    TRY_CTX(drop_bounding_set(), "--jail");
    if (config.uid) TRY_CTX(become(*config.uid, *config.gid), "--jail");
    else TRY_CTX(drop_capabilities(), "--jail");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail_errno("--jail: no_new_privs");
    TRY_CTX(load_process_policy(), "--jail");
    return {};
}

Result<void> lock_down_vcpu_thread() { return load_vcpu_policy(); }

} // namespace brood::jail
