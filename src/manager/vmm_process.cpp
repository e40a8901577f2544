#include "manager/vmm_process.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <pthread.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "common/read_file.hpp"

namespace brood::manager {

namespace {

// A VMM gets at most this many files (kernel, initrd, two per disk for six
// disks, with room to spare); the fds broodd moves to the child's numbers
// first go at or above kFirstSourceFd, above all of those numbers.
constexpr size_t kMaxPassedFds = 32;
constexpr int kFirstSourceFd = kFirstPassedFd + static_cast<int>(kMaxPassedFds);

Result<UniqueFd> pidfd_open(pid_t pid) {
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return fail_errno("pidfd_open " + std::to_string(pid));
    return UniqueFd(fd);
}

ExitStatus from_wait_status(int status) {
    ExitStatus s;
    if (WIFEXITED(status)) s.code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) s.signal = WTERMSIG(status);
    return s;
}

class SpawnAttrs final {
public:
    SpawnAttrs() {
        ::posix_spawn_file_actions_init(&actions);
        ::posix_spawnattr_init(&attr);
    }
    ~SpawnAttrs() {
        ::posix_spawn_file_actions_destroy(&actions);
        ::posix_spawnattr_destroy(&attr);
    }
    SpawnAttrs(const SpawnAttrs&) = delete;
    SpawnAttrs& operator=(const SpawnAttrs&) = delete;
    posix_spawn_file_actions_t actions{};
    posix_spawnattr_t attr{};
};

// What the child of clone_into_pid_namespace() needs, all prepared before
// the clone: it may only make async-signal-safe calls (broodd has threads).
struct ChildSetup {
    const char* binary;
    char* const* argv;
    char* const* envp;
    const char* log_path;
    int ready_fd;
    int child_ready_fd;
    const int* pass_fds; // to kFirstPassedFd on
    int pass_count;
    int error_fd; // the child writes {step, errno} here when it fails; closed by its exec
};

// Where the child of clone_into_pid_namespace() failed.
constexpr std::array<const char*, 4> kChildSteps{"open /dev/null or its log", "set up its fds",
                                                 "mark broodd's fds close-on-exec", "exec"};

// The child shares broodd's memory and runs on the thread state of the
// thread that cloned it (CLONE_VM): its code is left uninstrumented by the
// sanitizers, and it makes raw system calls, which they do not intercept.
// Otherwise a sanitizer build would take the child's steps for the
// parent's and report races that are not there.
#define BROOD_VFORK_CHILD __attribute__((no_sanitize("address", "thread", "undefined"))) static

BROOD_VFORK_CHILD long sys(long number, long a = 0, long b = 0, long c = 0, long d = 0) {
    return ::syscall(number, a, b, c, d);
}

[[noreturn]] BROOD_VFORK_CHILD void child_failed(const ChildSetup* setup, int step) {
    const int report[2] = {step, errno};
    sys(SYS_write, setup->error_fd, reinterpret_cast<long>(report), sizeof report);
    sys(SYS_exit_group, 127);
    __builtin_unreachable();
}

// `fd` at `target`, kept across the exec (dup2 would keep the flags of an
// fd that is already there).
BROOD_VFORK_CHILD bool put_at(int fd, int target) {
    if (fd == target) return sys(SYS_fcntl, target, F_SETFD, 0) == 0;
    return sys(SYS_dup3, fd, target, 0) == target;
}

// TSan takes every clone() for a fork and resets its own state in the
// child, which with CLONE_VM is the parent's: its builds copy the memory.
#if defined(__SANITIZE_THREAD__)
constexpr int kShareMemory = 0;
#else
constexpr int kShareMemory = CLONE_VM;
#endif

// The kernel's struct sigaction on x86-64 (glibc's differs).
struct KernelSigaction {
    unsigned long handler;
    unsigned long flags;
    unsigned long restorer;
    unsigned long mask;
};

// The child: what posix_spawn does for the other path, then exec.
BROOD_VFORK_CHILD int exec_child(void* arg) {
    const auto* setup = static_cast<const ChildSetup*>(arg);
    long null_fd = sys(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/dev/null"), O_RDONLY | O_CLOEXEC);
    long log_fd = sys(SYS_openat, AT_FDCWD, reinterpret_cast<long>(setup->log_path),
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (null_fd < 0 || log_fd < 0) child_failed(setup, 0);
    if (!put_at(static_cast<int>(null_fd), 0) || !put_at(static_cast<int>(log_fd), 1) || !put_at(1, 2) ||
        !put_at(setup->ready_fd, setup->child_ready_fd))
        child_failed(setup, 1);
    for (int i = 0; i < setup->pass_count; ++i)
        if (!put_at(setup->pass_fds[i], kFirstPassedFd + i)) child_failed(setup, 1);
    // Closed at the exec, not now: the error pipe must stay open until then.
    if (sys(SYS_close_range, kFirstPassedFd + setup->pass_count, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        child_failed(setup, 2);
    sys(SYS_setsid);
    const KernelSigaction dfl{reinterpret_cast<unsigned long>(SIG_DFL), 0, 0, 0};
    for (int sig = 1; sig < NSIG; ++sig) // SIGKILL, SIGSTOP: EINVAL, fine
        sys(SYS_rt_sigaction, sig, reinterpret_cast<long>(&dfl), 0, sizeof dfl.mask);
    const unsigned long none = 0;
    sys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&none), 0, sizeof none);
    sys(SYS_execve, reinterpret_cast<long>(setup->binary), reinterpret_cast<long>(setup->argv),
        reinterpret_cast<long>(setup->envp));
    child_failed(setup, 3);
}

// clone() with CLONE_NEWPID: the child is PID 1 of a new PID namespace and
// execs `binary`. Its pid (in ours) and a pidfd. clone(), not clone3():
// seccomp filters (systemd's RestrictNamespaces=) can read clone()'s flags
// and let CLONE_NEWPID through; clone3() they refuse outright. CLONE_VM and
// CLONE_VFORK as posix_spawn: nothing is copied, and this returns only once
// the child has exec'd or failed, so that whoever finds the process finds
// the VMM.
Result<std::pair<pid_t, UniqueFd>> clone_into_pid_namespace(const char* binary, char* const argv[],
                                                           char* const envp[], const char* log_path, int ready_fd,
                                                           const std::vector<int>& pass_fds) {
    int error_pipe[2];
    if (::pipe2(error_pipe, O_CLOEXEC) != 0) return fail_errno("pipe2");
    UniqueFd error_read(error_pipe[0]), error_write_low(error_pipe[1]);
    // Above the numbers the child's fds are moved to, so no move overwrites it.
    UniqueFd error_write(::fcntl(error_write_low.get(), F_DUPFD_CLOEXEC, kFirstSourceFd));
    if (!error_write) return fail_errno("dup the error pipe");
    error_write_low.reset();
    ChildSetup setup{binary, argv, envp, log_path, ready_fd, kChildReadyFd,
                     pass_fds.data(), static_cast<int>(pass_fds.size()), error_write.get()};
    constexpr size_t kStackSize = 64 * 1024;
    auto stack = std::make_unique<char[]>(kStackSize);
    int pidfd = -1;
    // No handler of broodd's runs in the child before it resets them all.
    sigset_t all, before;
    sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &before);
    int pid = ::clone(exec_child, stack.get() + kStackSize, kShareMemory | CLONE_VFORK | CLONE_NEWPID | CLONE_PIDFD | SIGCHLD,
                      &setup, &pidfd);
    int clone_errno = errno;
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    if (pid < 0) return fail(Error::from_errno("clone the VMM into a new PID namespace", clone_errno));
    UniqueFd owned_pidfd(pidfd);
    error_write.reset();
    int report[2] = {0, 0};
    ssize_t n;
    do n = ::read(error_read.get(), report, sizeof report);
    while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(sizeof report)) return std::pair{static_cast<pid_t>(pid), std::move(owned_pidfd)};
    ::waitpid(pid, nullptr, 0);
    const char* step = report[0] >= 0 && report[0] < static_cast<int>(kChildSteps.size()) ? kChildSteps[report[0]] : "?";
    return fail(Error::from_errno(fmt::format("start {}: {}", binary, step), report[1]));
}

// Reads the ready pipe until "ready\n", EOF or the deadline.
enum class ReadyResult { ready, closed, timeout };
ReadyResult wait_ready(int fd, int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    std::string got;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return ReadyResult::timeout;
        pollfd p{fd, POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;
        char buf[64];
        ssize_t r = ::read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return got.find("ready") != std::string::npos ? ReadyResult::ready : ReadyResult::closed;
        got.append(buf, static_cast<size_t>(r));
        if (got.find("ready\n") != std::string::npos) return ReadyResult::ready;
    }
}

} // namespace

std::string ExitStatus::describe() const {
    if (signal) return std::string("vmm killed by signal ") + std::to_string(*signal) + " (" + ::strsignal(*signal) + ")";
    if (!code) return "vmm exited, status unknown (not a child of this daemon)";
    switch (*code) {
    case 0: return "guest powered off or shutdown requested (exit 0)";
    case 1: return "vmm error while running (exit 1)";
    case 2: return "vmm rejected its input (exit 2)";
    case 3: return "guest reset (exit 3)";
    case 4: return "guest crashed: triple fault, KVM internal error or emulation failure (exit 4)";
    default:
        if (*code > 128) return "vmm terminated by signal " + std::to_string(*code - 128) + " (exit " + std::to_string(*code) + ")";
        return "vmm exited with code " + std::to_string(*code);
    }
}

std::string last_log_line(const std::string& path) {
    std::string tail = read_file_tail(path, 64 * 1024).value_or("");
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    size_t nl = tail.rfind('\n');
    return nl == std::string::npos ? tail : tail.substr(nl + 1);
}

Result<std::shared_ptr<VmmProcess>> VmmProcess::spawn(const SpawnSpec& spec,
                                                     const std::function<void(pid_t)>& on_spawned) {
    if (spec.pass_fds.size() > kMaxPassedFds) return fail(fmt::format("at most {} files for a VMM", kMaxPassedFds));
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return fail_errno("pipe2");
    UniqueFd ready_read(pipe_fds[0]);
    UniqueFd ready_write_low(pipe_fds[1]);
    // The child gets its fds at fixed numbers above the standard ones. Their
    // sources sit above all of those numbers: moving one never overwrites another.
    UniqueFd ready_write(::fcntl(ready_write_low.get(), F_DUPFD_CLOEXEC, kFirstSourceFd));
    if (!ready_write) return fail_errno("dup ready fd");
    ready_write_low.reset();
    std::vector<UniqueFd> pass_sources;
    std::vector<int> pass_fds;
    for (int fd : spec.pass_fds) {
        pass_sources.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, kFirstSourceFd));
        if (!pass_sources.back()) return fail_errno("dup a file for the VMM");
        pass_fds.push_back(pass_sources.back().get());
    }

    SpawnAttrs sa;
    ::posix_spawn_file_actions_addopen(&sa.actions, 0, "/dev/null", O_RDONLY, 0);
    ::posix_spawn_file_actions_addopen(&sa.actions, 1, spec.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::posix_spawn_file_actions_adddup2(&sa.actions, 1, 2);
    ::posix_spawn_file_actions_adddup2(&sa.actions, ready_write.get(), kChildReadyFd);
    for (size_t i = 0; i < pass_fds.size(); ++i)
        ::posix_spawn_file_actions_adddup2(&sa.actions, pass_fds[i], kFirstPassedFd + static_cast<int>(i));
    // Descriptors broodd inherited without O_CLOEXEC stop here too.
    ::posix_spawn_file_actions_addclosefrom_np(&sa.actions, kFirstPassedFd + static_cast<int>(pass_fds.size()));
    // Own session: a dying daemon (or its terminal) takes no VMM with it.
    ::posix_spawnattr_setflags(&sa.attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    sigset_t empty, all;
    sigemptyset(&empty);
    sigfillset(&all);
    ::posix_spawnattr_setsigmask(&sa.attr, &empty);
    ::posix_spawnattr_setsigdefault(&sa.attr, &all);

    std::vector<std::string> argv_strings{spec.binary};
    argv_strings.insert(argv_strings.end(), spec.args.begin(), spec.args.end());
    argv_strings.push_back("--ready-fd");
    argv_strings.push_back(std::to_string(kChildReadyFd));
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);

    // A fixed environment: nothing of the daemon's (BROOD_TOKEN, proxies,
    // locale) reaches the VMM.
    std::string path_var = std::string("PATH=") + kVmmPath;
    std::array<char*, 2> envp{path_var.data(), nullptr};
    pid_t pid = 0;
    UniqueFd pidfd;
    // posix_spawn cannot make a PID namespace.
    if (spec.own_pid_namespace) {
        auto cloned = TRY(clone_into_pid_namespace(spec.binary.c_str(), argv.data(), envp.data(),
                                                   spec.log_path.c_str(), ready_write.get(), pass_fds));
        pid = cloned.first;
        pidfd = std::move(cloned.second);
    } else {
        int rc = ::posix_spawn(&pid, spec.binary.c_str(), &sa.actions, &sa.attr, argv.data(), envp.data());
        if (rc != 0) return fail(Error::from_errno("spawn " + spec.binary, rc));
        auto opened = pidfd_open(pid);
        if (!opened) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            return fail(opened.error());
        }
        pidfd = std::move(*opened);
    }
    ready_write.reset();
    auto process = std::make_shared<VmmProcess>(pid, std::move(pidfd), true);
    if (on_spawned) on_spawned(pid);

    ReadyResult ready = wait_ready(ready_read.get(), spec.ready_timeout_ms);
    if (ready == ReadyResult::ready) return process;
    if (ready == ReadyResult::timeout) process->kill(SIGKILL);
    process->wait_exit(5'000);
    std::string why = ready == ReadyResult::timeout ? "vmm not ready after " + std::to_string(spec.ready_timeout_ms) + " ms"
                                                    : "vmm exited before it was ready";
    auto status = process->exit_status();
    if (status) why += ": " + status->describe();
    std::string line = last_log_line(spec.log_path);
    if (!line.empty()) why += ": " + line;
    int err = ready == ReadyResult::timeout ? ETIMEDOUT : (status && status->code == 2 ? EINVAL : ECHILD);
    return fail(why, err);
}

Result<std::shared_ptr<VmmProcess>> VmmProcess::adopt(pid_t pid) {
    UniqueFd fd = TRY(pidfd_open(pid));
    return std::make_shared<VmmProcess>(pid, std::move(fd), false);
}

bool VmmProcess::exited() const {
    std::lock_guard lock(_mutex);
    return _exit.has_value();
}

bool VmmProcess::poll_exit() {
    std::lock_guard lock(_mutex);
    if (_exit) return true;
    pollfd p{_pidfd.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    ExitStatus status;
    if (_child) {
        int ws = 0;
        pid_t r;
        do r = ::waitpid(_pid, &ws, WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r == _pid) status = from_wait_status(ws);
    }
    _exit = status;
    return true;
}

bool VmmProcess::wait_exit(int timeout_ms) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        if (poll_exit()) return true;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{_pidfd.get(), POLLIN, 0};
        ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
    }
}

std::optional<ExitStatus> VmmProcess::exit_status() const {
    std::lock_guard lock(_mutex);
    return _exit;
}

void VmmProcess::kill(int signal) const {
    ::syscall(SYS_pidfd_send_signal, _pidfd.get(), signal, nullptr, 0);
}

} // namespace brood::manager
