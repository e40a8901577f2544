// brood-vmm's box, applied in a forked child of the test: what the kernel
// reports of it, what it refuses, and that a call outside the allow-list
// kills the process. Needs root (CAP_SYS_ADMIN for the namespaces); skipped
// with the reason otherwise.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <sstream>
#include <string>
#include <thread>

#include "vmm/jail/jail.hpp"

namespace brood::jail {
namespace {

constexpr uid_t kUid = 64'321;

// The child's /proc/self, opened before its box hides /proc.
int g_proc_self = -1;

// Runs `body` in a child after entering the box; the child's exit status.
int in_box(const JailConfig& config, const std::function<int()>& body) {
    pid_t pid = ::fork();
    if (pid == 0) {
        g_proc_self = ::open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (!enter_namespaces(config) || !lock_down(config)) ::_exit(90);
        ::_exit(body());
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

std::string status_line(const std::string& key) {
    int fd = ::openat(g_proc_self, "status", O_RDONLY | O_CLOEXEC);
    std::string text(8192, '\0');
    ssize_t n = fd < 0 ? -1 : ::read(fd, text.data(), text.size());
    if (fd >= 0) ::close(fd);
    text.resize(n > 0 ? static_cast<size_t>(n) : 0);
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(key + ":", 0) == 0) return line.substr(key.size() + 1);
    return "";
}

std::string trim(std::string s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(s.begin());
    return s;
}

class Jail : public ::testing::Test {
protected:
    void SetUp() override {
        if (::geteuid() != 0) GTEST_SKIP() << "the box needs root (CAP_SYS_ADMIN for its namespaces)";
        char tmpl[] = "/tmp/brood-jail-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        ASSERT_EQ(::chown(dir.c_str(), kUid, kUid), 0);
        config.enabled = true;
        config.uid = kUid;
        config.gid = kUid;
        config.dir = dir;
    }
    void TearDown() override {
        if (!dir.empty()) std::filesystem::remove_all(dir);
    }
    std::string dir;
    JailConfig config;
};

TEST_F(Jail, TheKernelReportsEveryLayer) {
    const std::string our_mnt = std::filesystem::read_symlink("/proc/self/ns/mnt");
    struct stat dir_stat {};
    ASSERT_EQ(::stat(dir.c_str(), &dir_stat), 0);
    int status = in_box(config, [&] {
        // Each failed check exits with its own code.
        if (trim(status_line("Uid")).rfind(std::to_string(kUid) + "\t" + std::to_string(kUid), 0) != 0) return 1;
        if (trim(status_line("CapEff")) != "0000000000000000") return 2;
        if (trim(status_line("CapPrm")) != "0000000000000000") return 3;
        if (trim(status_line("CapBnd")) != "0000000000000000") return 4;
        if (trim(status_line("NoNewPrivs")) != "1") return 5;
        if (trim(status_line("Seccomp")) != "2") return 6;
        char mnt[256] = {};
        if (::readlinkat(g_proc_self, "ns/mnt", mnt, sizeof mnt - 1) <= 0 || std::string(mnt) == our_mnt) return 7;
        // Its directory is its root and its working directory.
        char cwd[4096];
        if (!::getcwd(cwd, sizeof cwd) || std::string(cwd) != "/") return 8;
        struct stat root {};
        if (::stat("/", &root) != 0 || root.st_ino != dir_stat.st_ino || root.st_dev != dir_stat.st_dev) return 9;
        return 0;
    });
    ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "check number " << WEXITSTATUS(status) << " failed";
}

TEST_F(Jail, HostFilesOutsideItsDirectoryAreClosedToIt) {
    const std::string secret = "/tmp/brood-jail-secret-" + std::to_string(::getpid());
    { std::ofstream(secret) << "host only"; }
    ::chmod(secret.c_str(), 0600);
    int status = in_box(config, [&] {
        if (::open(secret.c_str(), O_RDONLY | O_CLOEXEC) >= 0) return 1;
        if (::open("/etc/shadow", O_RDONLY | O_CLOEXEC) >= 0) return 2;
        // Not even what every host user may read: outside its root, nothing resolves.
        if (::open("/etc/passwd", O_RDONLY | O_CLOEXEC) >= 0) return 4;
        if (::open("/dev/null", O_RDONLY | O_CLOEXEC) >= 0) return 5;
        // Its own directory, by a relative path, is its to write.
        int fd = ::open("snapshot.tmp", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) return 3;
        ::close(fd);
        return 0;
    });
    ::unlink(secret.c_str());
    ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "check number " << WEXITSTATUS(status) << " failed";
}

TEST_F(Jail, ACallOutsideTheAllowListKillsTheProcess) {
    for (const auto& [what, call] : std::vector<std::pair<const char*, std::function<int()>>>{
             {"an IPv4 socket", [] { return ::socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 1; }},
             {"execve", [] {
                  char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
                  ::execv("/bin/true", argv);
                  return 1;
              }},
             {"a new process", [] { return ::fork() >= 0 ? 0 : 1; }},
             {"chown", [] { return ::chown(".", 0, 0); }},
         }) {
        SCOPED_TRACE(what);
        int status = in_box(config, call);
        ASSERT_TRUE(WIFSIGNALED(status)) << "the process lived on (exit " << WEXITSTATUS(status) << ")";
        EXPECT_EQ(WTERMSIG(status), SIGSYS);
    }
    // A Unix socket is allowed: the VMM's own sockets are all Unix sockets.
    int status = in_box(config, [] { return ::socket(AF_UNIX, SOCK_STREAM, 0) >= 0 ? 0 : 1; });
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

// ioctl() is filtered by request: the reads a snapshot makes pass (here on
// fd -1, so they fail with EBADF), creating a VM or faking terminal input
// kills the process. A vCPU thread's own filter narrows it to KVM_RUN and
// KVM_IRQ_LINE.
TEST_F(Jail, IoctlsAreFilteredByRequest) {
    auto passes = [](unsigned long request) {
        return [request] { return ::ioctl(-1, request, nullptr) < 0 && errno == EBADF ? 0 : 1; };
    };
    for (auto [what, request] : std::vector<std::pair<const char*, unsigned long>>{
             {"KVM_GET_REGS", KVM_GET_REGS}, {"KVM_GET_CLOCK", KVM_GET_CLOCK}, {"KVM_RUN", KVM_RUN}}) {
        SCOPED_TRACE(what);
        int status = in_box(config, passes(request));
        ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
        EXPECT_EQ(WEXITSTATUS(status), 0);
    }
    for (auto [what, request] : std::vector<std::pair<const char*, unsigned long>>{
             {"KVM_CREATE_VM", KVM_CREATE_VM},
             {"KVM_SET_USER_MEMORY_REGION", KVM_SET_USER_MEMORY_REGION},
             {"KVM_SET_REGS", KVM_SET_REGS},
             {"TIOCSTI", TIOCSTI}}) {
        SCOPED_TRACE(what);
        int status = in_box(config, passes(request));
        ASSERT_TRUE(WIFSIGNALED(status)) << "the process lived on (exit " << WEXITSTATUS(status) << ")";
        EXPECT_EQ(WTERMSIG(status), SIGSYS);
    }
    auto on_vcpu_thread = [](unsigned long request) {
        return [request] {
            if (!lock_down_vcpu_thread()) return 2;
            return ::ioctl(-1, request, nullptr) < 0 && errno == EBADF ? 0 : 1;
        };
    };
    int status = in_box(config, on_vcpu_thread(KVM_RUN));
    ASSERT_TRUE(WIFEXITED(status)) << "KVM_RUN on a vCPU thread: killed by signal " << WTERMSIG(status);
    EXPECT_EQ(WEXITSTATUS(status), 0);
    status = in_box(config, on_vcpu_thread(KVM_GET_REGS));
    ASSERT_TRUE(WIFSIGNALED(status)) << "KVM_GET_REGS on a vCPU thread: the process lived on";
    EXPECT_EQ(WTERMSIG(status), SIGSYS);
}

TEST(JailConfig, BadCombinationsAreRefused) {
    JailConfig c;
    c.uid = 5;
    c.gid = 5;
    EXPECT_FALSE(check(c)) << "a uid without --jail";
    c.enabled = true;
    EXPECT_TRUE(check(c));
    c.gid.reset();
    EXPECT_FALSE(check(c)) << "a uid without a gid";
    c.gid = 0;
    EXPECT_FALSE(check(c)) << "root's gid";
    c.gid = 5;
    c.dir = "relative/dir";
    EXPECT_FALSE(check(c));
    JailConfig cgroup_only;
    cgroup_only.cgroups = {"/sys/fs/cgroup/pids/x/cgroup.procs"};
    EXPECT_FALSE(check(cgroup_only)) << "a cgroup without --jail";
}

// A cgroup it cannot join stops the VMM before anything else happens.
TEST(JailConfig, ACgroupThatCannotBeJoinedIsAnError) {
    JailConfig c;
    c.enabled = true;
    c.cgroups = {"/nonexistent/brood-vmm-x/cgroup.procs"};
    auto entered = enter_namespaces(c);
    ASSERT_FALSE(entered);
    EXPECT_NE(entered.error().message().find("--jail-cgroup /nonexistent/brood-vmm-x/cgroup.procs"), std::string::npos)
        << entered.error().message();
}

// On cgroup v1 the VMM joins with its one thread (`tasks`): a second
// thread would stay outside the limits, so it is refused before any join.
TEST(JailConfig, JoiningCgroupsNeedsASingleThread) {
    JailConfig c;
    c.enabled = true;
    c.cgroups = {"/nonexistent/brood-vmm-x/tasks"};
    std::promise<void> release;
    std::thread second([done = release.get_future()]() mutable { done.wait(); });
    auto entered = enter_namespaces(c);
    release.set_value();
    second.join();
    ASSERT_FALSE(entered);
    EXPECT_NE(entered.error().message().find("must have one thread"), std::string::npos) << entered.error().message();
}

TEST(JailConfig, PathsInsideTheDirectoryBecomeRelative) {
    JailConfig c;
    c.enabled = true;
    c.dir = "/var/lib/brood/guests/abc";
    EXPECT_EQ(local_path(c, "/var/lib/brood/guests/abc/snapshots/.tmp-1/state"), "snapshots/.tmp-1/state");
    EXPECT_EQ(local_path(c, "/var/lib/brood/guests/abcd/state"), "/var/lib/brood/guests/abcd/state");
    EXPECT_EQ(local_path(c, "/elsewhere/state"), "/elsewhere/state");
    c.dir.clear();
    EXPECT_EQ(local_path(c, "/var/lib/brood/guests/abc/x"), "/var/lib/brood/guests/abc/x");
}

} // namespace
} // namespace brood::jail
