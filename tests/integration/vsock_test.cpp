// vsock through broodd: every instance and fork has a CID of its own and a
// vsock.sock in its directory, and a host program reaches a guest port
// through it, in a fork too.
#include <sys/socket.h>

#include <chrono>
#include <set>
#include <thread>
#include <string>

#include "common/vsock_connect.hpp"
#include "fixture.hpp"

namespace brood::testing {
namespace {

using nlohmann::json;

// Has the test guest echo one connection on port 52, and checks it.
void echo_once(Daemon& daemon, const std::string& ref, const std::string& sock, const std::string& text) {
    ASSERT_NE(daemon.console(ref, "vsock serve 52 1", "vsock listening").find("port=52"), std::string::npos);
    auto fd = connect_vsock(sock, 52, std::chrono::milliseconds(20'000));
    ASSERT_TRUE(fd) << fd.error().message();
    ASSERT_EQ(::send(fd->get(), text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
    std::string got(text.size(), '\0');
    ASSERT_EQ(::recv(fd->get(), got.data(), got.size(), MSG_WAITALL), static_cast<ssize_t>(text.size()));
    EXPECT_EQ(got, text);
}

TEST_F(Broodd, EveryInstanceAndForkHasItsOwnVsockCid) {
    std::string id = running("v");
    json a = daemon.call("GET", "/instances/v").body;
    json b = daemon.create("w");
    uint32_t cid = a.value("vsock_cid", 0u);
    EXPECT_GE(cid, 3u);
    EXPECT_NE(b.value("vsock_cid", 0u), cid);
    std::string sock = daemon.guests_dir() + "/" + id + "/vsock.sock";
    EXPECT_EQ(daemon.console("v", "vsock init", "vsock ready"),
              "vsock ready cid=" + std::to_string(cid) + " resets=0\n");
    echo_once(daemon, "v", sock, "through broodd");

    // Standby, then a running fork of it: a new CID, its own socket, and the
    // guest's listener answers there after its transport reset.
    ASSERT_EQ(daemon.call("POST", "/instances/v/standby").status, 200);
    auto forked = daemon.call("POST", "/instances/v/fork", {{"name", "v-fork"}, {"target_state", "Running"}});
    ASSERT_EQ(forked.status, 201) << forked.text;
    uint32_t fork_cid = forked.body.value("vsock_cid", 0u);
    std::set<uint32_t> cids{cid, b.value("vsock_cid", 0u), fork_cid};
    EXPECT_EQ(cids.size(), 3u) << "CIDs are unique among instances";
    // The transport reset reaches the guest's event queue from the VMM's I/O
    // thread once the fork runs: the guest may answer before it polled it.
    // (And the source may still have been printing its "vsock served" line
    // when it was paused: the fork finishes that line first.)
    const std::string want = "vsock cid=" + std::to_string(fork_cid) + " resets=1\n";
    std::string fork_says;
    for (int attempt = 0; attempt < 30 && fork_says.find(want) == std::string::npos; ++attempt) {
        if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(100));
        fork_says = daemon.console("v-fork", "vsock cid", "vsock cid=");
    }
    EXPECT_NE(fork_says.find(want), std::string::npos) << fork_says;
    std::string fork_sock = daemon.guests_dir() + "/" + forked.body.value("id", "") + "/vsock.sock";
    echo_once(daemon, "v-fork", fork_sock, "through the fork");

    // The source keeps its CID when restored.
    ASSERT_EQ(daemon.call("POST", "/instances/v/restore").status, 200);
    EXPECT_EQ(daemon.call("GET", "/instances/v").body.value("vsock_cid", 0u), cid);
    echo_once(daemon, "v", sock, "source again");
}

} // namespace
} // namespace brood::testing
