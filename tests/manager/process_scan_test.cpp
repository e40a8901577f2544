// Which processes a restarted broodd adopts as its VMMs: what a process's
// command line says is not enough, its program must be brood-vmm.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "manager/process_scan.hpp"

namespace fs = std::filesystem;
using namespace brood::manager;

namespace {

class ProcessScan : public ::testing::Test {
protected:
    void SetUp() override {
        dir = fs::temp_directory_path() / ("brood-scan-" + std::to_string(::getpid()));
        fs::remove_all(dir);
        fs::create_directories(dir / "guests" / "abc");
        sock = (dir / "guests" / "abc" / "control.sock").string();
    }
    void TearDown() override {
        if (child > 0) {
            ::kill(child, SIGKILL);
            ::waitpid(child, nullptr, 0);
        }
        fs::remove_all(dir);
    }
    // Runs `program` (a shell) under argv[0] "brood-vmm" with a VMM's
    // --control-socket argument, sleeping.
    void spawn(const std::string& program, uid_t as_uid = 0) {
        child = ::fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
            if (as_uid != 0 && (::setgid(as_uid) != 0 || ::setuid(as_uid) != 0)) ::_exit(126);
            const char* argv[] = {"/opt/brood/bin/brood-vmm", "-c", "sleep 30; :", "--control-socket", sock.c_str(),
                                  nullptr};
            ::execv(program.c_str(), const_cast<char* const*>(argv));
            ::_exit(127);
        }
        // The scan reads /proc/PID/cmdline: wait until exec has replaced it.
        for (int i = 0; i < 200; ++i) {
            std::string link = fs::read_symlink("/proc/" + std::to_string(child) + "/exe").string();
            if (link.find("brood-scan") != std::string::npos || link.find("sh") != std::string::npos) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    fs::path dir;
    std::string sock;
    pid_t child = -1;
};

TEST_F(ProcessScan, AProcessThatOnlyLooksLikeAVmmIsNotAdopted) {
    spawn("/bin/sh"); // argv[0] and arguments of a VMM, program /bin/sh
    EXPECT_TRUE(find_vmm_processes((dir / "guests").string()).empty());
    EXPECT_FALSE(is_vmm_for(child, sock));
}

TEST_F(ProcessScan, ABroodVmmProgramWithThatCommandLineIsAdopted) {
    fs::copy_file("/bin/sh", dir / "brood-vmm"); // the same shell, under the VMM's program name
    spawn((dir / "brood-vmm").string());
    auto found = find_vmm_processes((dir / "guests").string());
    ASSERT_EQ(found.count("abc"), 1u);
    EXPECT_EQ(found["abc"], child);
    EXPECT_TRUE(is_vmm_for(child, sock));
}

// A boxed VMM runs under a uid of its own: it is ours when that uid owns
// its instance directory (only a root daemon can have handed it over).
TEST_F(ProcessScan, ABoxedVmmUnderTheUidOfItsInstanceDirectoryIsAdopted) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a process under another uid";
    constexpr uid_t kBoxed = 64'777;
    fs::copy_file("/bin/sh", dir / "brood-vmm");
    fs::permissions(dir, fs::perms::owner_all | fs::perms::others_exec | fs::perms::group_exec);
    spawn((dir / "brood-vmm").string(), kBoxed);
    EXPECT_TRUE(find_vmm_processes((dir / "guests").string()).empty()) << "its directory is still root's";
    EXPECT_FALSE(is_vmm_for(child, sock));
    ASSERT_EQ(::chown((dir / "guests" / "abc").c_str(), kBoxed, kBoxed), 0);
    auto found = find_vmm_processes((dir / "guests").string());
    ASSERT_EQ(found.count("abc"), 1u);
    EXPECT_EQ(found["abc"], child);
    EXPECT_TRUE(is_vmm_for(child, sock));
}

} // namespace
