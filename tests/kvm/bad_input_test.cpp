// brood-vmm rejects bad input with one clear line and exit code 2, never a
// crash or a hang, and leaves nothing behind.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "kvm_fixture.hpp"

namespace brood::test {
namespace {

using BadInputTest = KvmTest;

void write_file(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
}

// One line on stderr, naming the problem.
void expect_rejected(const ProcessResult& r, const std::string& needle) {
    EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find(needle), std::string::npos) << "stderr: " << r.stderr_text;
    EXPECT_EQ(std::count(r.stderr_text.begin(), r.stderr_text.end(), '\n'), 1) << r.stderr_text;
}

TEST_F(BadInputTest, MissingKernel) {
    expect_rejected(run_vmm({"boot", "--kernel", path("nope")}), "cannot read kernel");
}

TEST_F(BadInputTest, EmptyKernel) {
    write_file(path("empty"), "");
    expect_rejected(run_vmm({"boot", "--kernel", path("empty")}), "is empty");
}

TEST_F(BadInputTest, GarbageKernel) {
    write_file(path("garbage"), std::string(8192, 'x'));
    expect_rejected(run_vmm({"boot", "--kernel", path("garbage")}), "neither an ELF nor a bzImage");
}

TEST_F(BadInputTest, UnreadableKernelIsADirectory) {
    expect_rejected(run_vmm({"boot", "--kernel", dir()}), "kernel");
}

TEST_F(BadInputTest, InitrdThatDoesNotFit) {
    // 40 MiB initrd into a 32 MiB guest.
    { std::ofstream(path("big.img"), std::ios::binary).seekp((40 << 20) - 1).put('x'); }
    expect_rejected(run_vmm({"boot", "--kernel", test_guest_path(), "--initrd", path("big.img"), "--memory-mib", "32"}),
                    "does not fit");
}

TEST_F(BadInputTest, MemoryZeroTooSmallTooLargeOrNotANumber) {
    expect_rejected(run_vmm({"boot", "--kernel", test_guest_path(), "--memory-mib", "0"}), "memory");
    expect_rejected(run_vmm({"boot", "--kernel", test_guest_path(), "--memory-mib", "7"}), "at least 16 MiB");
    expect_rejected(run_vmm({"boot", "--kernel", test_guest_path(), "--memory-mib", "100000000"}), "exceeds");
    expect_rejected(run_vmm({"boot", "--kernel", test_guest_path(), "--memory-mib", "1.5"}), "memory-mib");
}

TEST_F(BadInputTest, VcpuCountZeroOrAboveKvmLimit) {
    expect_rejected(run_vmm({"boot", "--kernel", test_guest_path(), "--vcpus", "0"}), "vcpus must be between 1 and");
    expect_rejected(run_vmm({"boot", "--kernel", test_guest_path(), "--vcpus", "100000"}), "vcpus must be between 1 and");
}

TEST_F(BadInputTest, ControlSocketPathExists) {
    write_file(path("control.sock"), "");
    expect_rejected(run_vmm({"boot", "--kernel", test_guest_path(), "--control-socket", path("control.sock")}),
                    "exists");
}

TEST_F(BadInputTest, UnknownOptionAndMissingSubcommand) {
    expect_rejected(run_vmm({"boot", "--kernel", test_guest_path(), "--frobnicate"}), "frobnicate");
    EXPECT_EQ(run_vmm({}).exit_code, 2);
}

} // namespace
} // namespace brood::test

namespace brood::test {
namespace {

// Runs brood-vmm in a private mount namespace whose /dev is an empty tmpfs,
// so /dev/kvm does not exist there.
TEST(NoKvmTest, SaysSoPlainly) {
    if (::geteuid() != 0 || std::system("unshare --mount true 2>/dev/null") != 0)
        GTEST_SKIP() << "needs root and unshare(1) to hide /dev/kvm in a mount namespace";
    std::string cmd = "unshare --mount sh -c 'mount -t tmpfs none /dev && exec " + vmm_path() + " boot --kernel " +
                      test_guest_path() + "' 2>&1; echo exit=$?";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[512];
    while (size_t n = std::fread(buf, 1, sizeof(buf), p)) out.append(buf, n);
    ::pclose(p);
    EXPECT_NE(out.find("/dev/kvm does not exist: this host has no KVM"), std::string::npos) << out;
    EXPECT_NE(out.find("exit=1"), std::string::npos) << out;
}

} // namespace
} // namespace brood::test
