#include "vmm/jail/seccomp_policy.hpp"

#include <sched.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include <fmt/format.h>

#include "vmm/kvm/runtime_ioctls.hpp"

namespace brood::jail {
namespace {

using Filter = std::unique_ptr<void, void (*)(scmp_filter_ctx)>;

Result<void> check_rc(int rc, std::string_view what) {
    if (rc < 0) return fail(fmt::format("seccomp: {}: {}", what, std::strerror(-rc)));
    return {};
}

Result<void> allow_all(scmp_filter_ctx ctx, const std::vector<std::string_view>& names) {
    for (auto name : names) {
        const std::string n(name);
        int nr = seccomp_syscall_resolve_name(n.c_str());
        if (nr == __NR_SCMP_ERROR) return fail(fmt::format("seccomp: unknown system call {}", n));
        TRY(check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0), "allow " + n));
    }
    return {};
}

// ioctl() with the listed request numbers only. The kernel reads the request
// as 32 bits: the comparison ignores the upper half of the register.
Result<void> allow_ioctls(scmp_filter_ctx ctx, std::span<const kvm::IoctlRequest> requests) {
    for (const auto& r : requests)
        TRY(check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffff'ffffULL, r.request)),
                     fmt::format("allow ioctl {}", r.name)));
    return {};
}

Result<Filter> new_filter() {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!ctx) return fail("seccomp: cannot make a filter");
    return Filter(ctx, seccomp_release);
}

} // namespace

const std::vector<std::string_view>& process_syscalls() {
    static const std::vector<std::string_view> names = {
        // file descriptors and files (in the instance directory)
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "lseek", "close",
        "openat", "open", "newfstatat", "fstat", "stat", "lstat", "statx", "fcntl", "dup", "dup3", "pipe2",
        "fsync", "fdatasync", "fallocate", "ftruncate", "copy_file_range", "sendfile", "unlink", "unlinkat",
        "rename", "renameat", "renameat2", "mkdir", "mkdirat", "chmod", "fchmod", "fchmodat", "readlink",
        "readlinkat", "getdents64", "access", "faccessat", "faccessat2", "getcwd", "mincore",
        // memory
        "mmap", "munmap", "mprotect", "mremap", "madvise", "brk",
        // threads, time, signals to itself
        "futex", "set_robust_list", "get_robust_list", "rseq", "sched_yield", "sched_getaffinity", "exit",
        "exit_group", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "clock_gettime",
        "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "getpid", "gettid", "getuid",
        "geteuid", "getgid", "getegid", "getrandom", "sysinfo", "uname", "prlimit64", "getrlimit",
        "set_tid_address", "restart_syscall",
        // more filters: each vCPU thread adds its own (a filter can only narrow what is allowed)
        "seccomp",
        // waiting on fds
        "poll", "ppoll", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "eventfd2", "timerfd_create",
        "timerfd_settime", "timerfd_gettime", "signalfd4",
        // Unix sockets (socket() itself is checked for AF_UNIX below)
        "bind", "listen", "accept", "accept4", "connect", "sendto", "recvfrom", "sendmsg", "recvmsg", "shutdown",
        "getsockopt", "setsockopt", "getsockname", "getpeername", "socketpair",
    };
    return names;
}

const std::vector<std::string_view>& vcpu_syscalls() {
    static const std::vector<std::string_view> names = {
        "read", "write", "writev", "futex", "mmap", "munmap", "mremap", "madvise", "brk", "mprotect",
        "rt_sigprocmask", "rt_sigreturn", "rt_sigaction", "clock_gettime", "clock_nanosleep", "nanosleep",
        "sched_yield", "getpid", "gettid", "exit", "exit_group", "restart_syscall", "epoll_ctl", "eventfd2",
        "timerfd_settime", "close", "sendto", "sendmsg", "recvfrom", "fsync", "fdatasync", "pwrite64",
        "pread64", "preadv", "pwritev", "getrandom", "set_robust_list", "rseq",
        // a log line from a vCPU thread may open and read a file once (the C library's time zone)
        "openat", "newfstatat", "fstat", "lseek",
    };
    return names;
}

Result<void> load_process_policy() {
    auto filter = TRY(new_filter());
    scmp_filter_ctx ctx = filter.get();
    TRY(allow_all(ctx, process_syscalls()));
    TRY(allow_ioctls(ctx, kvm::runtime_ioctls()));
    // Threads only: a new process could escape the filter's intent.
    TRY(check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)),
                 "allow clone of threads"));
    TRY(check_rc(seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0), "clone3"));
    TRY(check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX)),
                 "allow Unix sockets"));
    // Signals go to this process only (the vCPU kick, a thread's abort).
    const auto self = static_cast<scmp_datum_t>(::getpid());
    TRY(check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, SCMP_A0(SCMP_CMP_EQ, self)), "tgkill"));
    TRY(check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, SCMP_A0(SCMP_CMP_EQ, self)), "kill"));
    TRY(check_rc(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1), "synchronise every thread"));
    TRY(check_rc(seccomp_load(ctx), "load the process filter"));
    return {};
}

Result<void> load_vcpu_policy() {
    auto filter = TRY(new_filter());
    scmp_filter_ctx ctx = filter.get();
    TRY(allow_all(ctx, vcpu_syscalls()));
    TRY(allow_ioctls(ctx, kvm::vcpu_thread_ioctls()));
    const auto self = static_cast<scmp_datum_t>(::getpid());
    TRY(check_rc(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, SCMP_A0(SCMP_CMP_EQ, self)), "tgkill"));
    // no_new_privs is already set for every thread, and prctl is not allowed.
    TRY(check_rc(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0), "leave no_new_privs as it is"));
    TRY(check_rc(seccomp_load(ctx), "load the vCPU filter"));
    return {};
}

} // namespace brood::jail
