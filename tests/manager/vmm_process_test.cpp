// VmmProcess with stand-in programs (sh scripts) for the paths a real VMM
// rarely takes: failing at start, never becoming ready, dying later.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "common/unique_fd.hpp"
#include "manager/supervisor.hpp"
#include "manager/vmm_process.hpp"

using namespace brood::manager;

namespace {

SpawnSpec sh(const std::string& script, int ready_timeout_ms = 5'000) {
    // --ready-fd 3 is appended: as "$1 $2" of the script.
    return SpawnSpec{"/bin/sh", {"-c", script, "fake-vmm"}, "/tmp/brood-fake-vmm.log", ready_timeout_ms, false, {}};
}

} // namespace

TEST(VmmProcess, ReadyThenExitCodeIsCollected) {
    auto vmm = VmmProcess::spawn(sh("echo ready >&$2; exec 3>&-; sleep 0.1; exit 4"));
    ASSERT_TRUE(vmm) << vmm.error().message();
    EXPECT_TRUE((*vmm)->is_child());
    EXPECT_TRUE((*vmm)->wait_exit(5'000));
    auto status = (*vmm)->exit_status();
    ASSERT_TRUE(status);
    EXPECT_EQ(status->code, 4);
    EXPECT_NE(status->describe().find("guest crashed"), std::string::npos);
}

TEST(VmmProcess, BadInputBeforeReadyIsEinvalWithTheLoggedLine) {
    std::filesystem::remove("/tmp/brood-fake-vmm.log");
    auto vmm = VmmProcess::spawn(sh("echo 'brood-vmm: kernel is not an ELF' >&2; exit 2"));
    ASSERT_FALSE(vmm);
    EXPECT_EQ(vmm.error().errno_value(), EINVAL);
    EXPECT_NE(vmm.error().message().find("kernel is not an ELF"), std::string::npos) << vmm.error().message();
}

TEST(VmmProcess, NeverReadyTimesOutAndIsKilled) {
    auto vmm = VmmProcess::spawn(sh("sleep 30", 200));
    ASSERT_FALSE(vmm);
    EXPECT_EQ(vmm.error().errno_value(), ETIMEDOUT);
    EXPECT_NE(vmm.error().message().find("signal 9"), std::string::npos) << vmm.error().message();
}

// Files handed over arrive at fds 4, 5, ... in order, readable through
// /proc/self/fd/N as the VMM reads its images; nothing else is open above
// them. The same with a PID namespace of its own (root only).
TEST(VmmProcess, HandedOverFilesArriveInOrderFromFdFour) {
    std::string dir = "/tmp/brood-fake-vmm-fds-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    { std::ofstream(dir + "/kernel") << "kernel"; }
    { std::ofstream(dir + "/initrd") << "initrd"; }
    for (bool pid_ns : {false, true}) {
        if (pid_ns && ::geteuid() != 0) continue;
        SCOPED_TRACE(pid_ns ? "own PID namespace" : "posix_spawn");
        brood::UniqueFd kernel(::open((dir + "/kernel").c_str(), O_RDONLY | O_CLOEXEC));
        brood::UniqueFd initrd(::open((dir + "/initrd").c_str(), O_RDONLY | O_CLOEXEC));
        ASSERT_TRUE(kernel && initrd);
        SpawnSpec spec = sh("read k </proc/self/fd/4; read i </proc/self/fd/5; "
                            "if [ -e /proc/self/fd/6 ]; then six=open; else six=closed; fi; "
                            "echo \"$k $i $six\"; echo ready >&$2; exec 3>&-; exit 0");
        spec.log_path = dir + "/log";
        std::filesystem::remove(spec.log_path);
        spec.own_pid_namespace = pid_ns;
        spec.pass_fds = {kernel.get(), initrd.get()};
        auto vmm = VmmProcess::spawn(spec);
        ASSERT_TRUE(vmm) << vmm.error().message();
        ASSERT_TRUE((*vmm)->wait_exit(5'000));
        std::ifstream log(spec.log_path);
        std::string line;
        std::getline(log, line);
        EXPECT_EQ(line, "kernel initrd closed");
    }
    std::filesystem::remove_all(dir);
}

// A boxed VMM (root only): PID 1 of a PID namespace of its own, with the
// same fds, readiness and exit status as any other.
TEST(VmmProcess, InItsOwnPidNamespaceItIsPidOne) {
    if (::geteuid() != 0) GTEST_SKIP() << "a PID namespace needs CAP_SYS_ADMIN";
    SpawnSpec spec = sh("echo pid=$$; readlink /proc/self/ns/pid; echo ready >&$2; exec 3>&-; exit 3");
    spec.log_path = "/tmp/brood-fake-vmm-pid-ns-" + std::to_string(::getpid()) + ".log";
    std::filesystem::remove(spec.log_path);
    spec.own_pid_namespace = true;
    auto vmm = VmmProcess::spawn(spec);
    ASSERT_TRUE(vmm) << vmm.error().message();
    ASSERT_TRUE((*vmm)->wait_exit(5'000));
    EXPECT_EQ((*vmm)->exit_status().value_or(ExitStatus{}).code, 3);
    std::ifstream log(spec.log_path);
    std::string pid_line, ns_line;
    std::getline(log, pid_line);
    std::getline(log, ns_line);
    std::filesystem::remove(spec.log_path);
    EXPECT_EQ(pid_line, "pid=1");
    EXPECT_NE(ns_line, std::filesystem::read_symlink("/proc/self/ns/pid").string());
}

// A child that cannot exec in its PID namespace says which step failed, and why.
TEST(VmmProcess, InItsOwnPidNamespaceAMissingBinaryIsReportedWithItsErrno) {
    if (::geteuid() != 0) GTEST_SKIP() << "a PID namespace needs CAP_SYS_ADMIN";
    SpawnSpec spec{"/nonexistent/brood-vmm", {}, "/tmp/brood-fake-vmm-missing.log", 1'000, true, {}};
    auto vmm = VmmProcess::spawn(spec);
    ASSERT_FALSE(vmm);
    EXPECT_EQ(vmm.error().errno_value(), ENOENT) << vmm.error().message();
    EXPECT_NE(vmm.error().message().find("exec"), std::string::npos) << vmm.error().message();
    std::filesystem::remove(spec.log_path);
}

TEST(VmmProcess, MissingBinaryFails) {
    SpawnSpec spec{"/nonexistent/brood-vmm", {}, "/tmp/brood-fake-vmm.log", 1'000, false, {}};
    EXPECT_FALSE(VmmProcess::spawn(spec));
}

TEST(Supervisor, ReportsEachExitOnce) {
    std::mutex mutex;
    std::vector<std::string> exits;
    Supervisor supervisor([&](const std::string& id, const std::shared_ptr<VmmProcess>&) {
        std::lock_guard lock(mutex);
        exits.push_back(id);
    });
    auto a = VmmProcess::spawn(sh("echo ready >&$2; exec 3>&-; sleep 30"));
    auto b = VmmProcess::spawn(sh("echo ready >&$2; exec 3>&-; sleep 30"));
    ASSERT_TRUE(a && b);
    supervisor.watch("a", *a);
    supervisor.watch("b", *b);
    (*b)->kill(SIGKILL);
    for (int i = 0; i < 200; ++i) {
        {
            std::lock_guard lock(mutex);
            if (!exits.empty()) break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    {
        std::lock_guard lock(mutex);
        ASSERT_EQ(exits, std::vector<std::string>{"b"});
    }
    EXPECT_EQ((*b)->exit_status()->signal, SIGKILL);
    (*a)->kill(SIGKILL);
    EXPECT_TRUE((*a)->wait_exit(5'000));
    supervisor.stop();
}

TEST(VmmProcess, GetsAFixedEnvironmentWithoutTheDaemonsSecrets) {
    ::setenv("BROOD_TOKEN", "s3cret-token", 1);
    ::setenv("BROOD_TEST_LEAK", "leaked", 1);
    const std::string out = "/tmp/brood-fake-vmm-env." + std::to_string(::getpid());
    auto vmm = VmmProcess::spawn(sh("env > " + out + "; echo ready >&$2; exec 3>&-; exit 0"));
    ::unsetenv("BROOD_TOKEN");
    ::unsetenv("BROOD_TEST_LEAK");
    ASSERT_TRUE(vmm) << vmm.error().message();
    EXPECT_TRUE((*vmm)->wait_exit(5'000));
    std::ifstream in(out);
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::filesystem::remove(out);
    EXPECT_NE(env.find(std::string("PATH=") + kVmmPath + "\n"), std::string::npos) << env;
    EXPECT_EQ(env.find("s3cret-token"), std::string::npos) << env;
    EXPECT_EQ(env.find("BROOD_TEST_LEAK"), std::string::npos) << env;
}
