// virtio-vsock with the test guest: a host program reaches a guest port
// through the VMM's vsock socket, bytes go both ways, and it all works again
// after a snapshot is restored with another CID.
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <string>

#include "common/vsock_connect.hpp"
#include "kvm_fixture.hpp"
#include "snapshot_helpers.hpp"

namespace brood::test {
namespace {

using std::chrono::milliseconds;

std::string exchange(int fd, const std::string& text) {
    EXPECT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
    std::string got;
    char buf[256];
    while (got.size() < text.size()) {
        ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        got.append(buf, static_cast<size_t>(n));
    }
    return got;
}

// The guest closes its side when the host shuts down writing: end of stream.
bool ends_cleanly(int fd) {
    ::shutdown(fd, SHUT_WR);
    char c;
    return ::recv(fd, &c, 1, 0) == 0;
}

class VsockTest : public KvmTest {
protected:
    VmProcess boot_with_vsock(uint64_t cid, const std::string& socket) {
        return boot_guest(64, 1, subdir("boot"), {"--vsock-cid", std::to_string(cid), "--vsock-socket", socket});
    }
};

TEST_F(VsockTest, HostReachesAGuestPortAndBytesGoBothWays) {
    std::string sock = path("v.sock");
    VmProcess vm = boot_with_vsock(5, sock);
    EXPECT_NE(ask(vm, "vsock init", "vsock ready").find("cid=5"), std::string::npos);
    ASSERT_TRUE(vm.command("vsock serve 52 1", "vsock listening"));

    auto refused = connect_vsock(sock, 53, milliseconds(10'000));
    ASSERT_FALSE(refused) << "nothing listens on guest port 53";
    EXPECT_NE(refused.error().message().find("refused"), std::string::npos) << refused.error().message();

    auto fd = connect_vsock(sock, 52, milliseconds(10'000));
    ASSERT_TRUE(fd) << fd.error().message();
    EXPECT_EQ(exchange(fd->get(), "hello guest"), "hello guest");
    std::string big(3000, 'b'); // more than one of the guest's buffers
    EXPECT_EQ(exchange(fd->get(), big), big);
    EXPECT_TRUE(ends_cleanly(fd->get()));
    auto served = vm.wait_for("vsock served", Millis(20'000));
    ASSERT_TRUE(served) << served.error().message();
    EXPECT_NE(served->find("served=1 bytes=3011"), std::string::npos) << *served;
}

TEST_F(VsockTest, RestoredWithAnotherCidTheGuestListensAgain) {
    std::string sock = path("v.sock");
    VmProcess vm = boot_with_vsock(3, sock);
    ask(vm, "vsock init", "vsock ready cid=3");
    ASSERT_TRUE(vm.command("vsock serve 52 2", "vsock listening"));
    auto live = connect_vsock(sock, 52, milliseconds(10'000));
    ASSERT_TRUE(live) << live.error().message();
    EXPECT_EQ(exchange(live->get(), "before"), "before");

    // Host connections do not survive a pause: the host sees end of stream.
    auto snap = take_snapshot(vm, path("state"), path("memory"));
    ASSERT_TRUE(snap) << snap.error().message();
    char c;
    EXPECT_EQ(::recv(live->get(), &c, 1, 0), 0);
    vm.kill_now();

    std::string fork_sock = path("fork.sock");
    auto fork = restore(path("state"), path("memory"), "file", subdir("fork"),
                        {"--vsock-cid", "9", "--vsock-socket", fork_sock});
    ASSERT_TRUE(fork) << fork.error().message();
    // The guest was serving when it was saved; the transport reset ends
    // that connection, and the serve loop goes on listening with CID 9.
    auto fd = connect_vsock(fork_sock, 52, milliseconds(20'000));
    ASSERT_TRUE(fd) << fd.error().message();
    EXPECT_EQ(exchange(fd->get(), "after restore"), "after restore");
    EXPECT_TRUE(ends_cleanly(fd->get()));
    auto served = fork->wait_for("vsock served", Millis(20'000));
    ASSERT_TRUE(served) << served.error().message();
    EXPECT_NE(ask(*fork, "vsock cid", "vsock cid=").find("cid=9 resets=1"), std::string::npos);
}

TEST_F(VsockTest, BesideADiskTheDeviceTakesTheNextSlot) {
    std::string disk = path("disk.img");
    std::ofstream(disk, std::ios::binary).write(std::string(1 << 20, '\0').data(), 1 << 20);
    std::string sock = path("v.sock");
    VmProcess vm = boot_guest(64, 1, subdir("boot"), {"--disk", disk, "--vsock-cid", "6", "--vsock-socket", sock});
    EXPECT_EQ(ask(vm, "disk", "disk "), "disk sectors=2048 rw");
    EXPECT_EQ(ask(vm, "vsock init", "vsock "), "vsock ready cid=6 resets=0");
    ASSERT_TRUE(vm.command("vsock serve 1024 1", "vsock listening"));
    auto fd = connect_vsock(sock, 1024, milliseconds(10'000));
    ASSERT_TRUE(fd) << fd.error().message();
    EXPECT_EQ(exchange(fd->get(), "x"), "x");
    EXPECT_TRUE(ends_cleanly(fd->get()));
    EXPECT_TRUE(vm.wait_for("vsock served=1", Millis(20'000)));
}

TEST_F(VsockTest, RestoreWithoutTheSocketIsRefused) {
    VmProcess vm = boot_with_vsock(4, path("v.sock"));
    ask(vm, "vsock init", "vsock ready");
    ASSERT_TRUE(take_snapshot(vm, path("state"), path("memory")));
    vm.kill_now();
    auto r = run_vmm({"restore", "--state", path("state"), "--memory", path("memory")});
    EXPECT_EQ(r.exit_code, 2) << r.stderr_text;
    EXPECT_NE(r.stderr_text.find("--vsock-socket"), std::string::npos) << r.stderr_text;
}

} // namespace
} // namespace brood::test
