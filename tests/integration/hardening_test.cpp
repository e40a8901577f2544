// What a running daemon and its VMMs hold: no descriptor survives an exec,
// no daemon secret reaches a VMM.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fixture.hpp"

using namespace brood::testing;

namespace {

// Descriptors of `pid` above stderr without O_CLOEXEC, with what they point to.
std::vector<std::string> inheritable_fds(pid_t pid) {
    std::vector<std::string> out;
    std::string base = "/proc/" + std::to_string(pid);
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(base + "/fd", ec)) {
        std::string name = entry.path().filename().string();
        if (std::stoi(name) <= 2) continue;
        std::ifstream info(base + "/fdinfo/" + name);
        std::string key, flags;
        while (info >> key) {
            if (key == "flags:") {
                info >> flags;
                break;
            }
        }
        if (flags.empty()) continue; // closed meanwhile
        if ((std::stoul(flags, nullptr, 8) & 02000000) != 0) continue;
        std::error_code link_ec;
        out.push_back(name + " -> " + std::filesystem::read_symlink(entry.path(), link_ec).string());
    }
    return out;
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += item + "\n";
    return out;
}

// broodd started by a parent that leaks a descriptor (no O_CLOEXEC) to it.
class BrooddWithInheritedFd : public Broodd {
protected:
    void SetUp() override {
        int low = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        _leaked = ::fcntl(low, F_DUPFD, 40); // no O_CLOEXEC, above the ones a child sets up
        ::close(low);
        ASSERT_GE(_leaked, 40);
        Broodd::SetUp();
    }
    void TearDown() override {
        Broodd::TearDown();
        if (_leaked >= 0) ::close(_leaked);
    }
    int _leaked = -1;
};

class BrooddWithToken : public Broodd {
protected:
    void SetUp() override {
        ::setenv("BROOD_TOKEN", "s3cret-daemon-token", 1);
        Broodd::SetUp();
        ::unsetenv("BROOD_TOKEN");
    }
};

} // namespace

TEST_F(BrooddWithInheritedFd, EveryDescriptorOfDaemonAndVmmIsCloseOnExec) {
    std::string id = running("fds");
    auto pong = daemon.call("POST", "/instances/fds/console", {{"input", "ping"}, {"until", "pong"}});
    EXPECT_EQ(pong.status, 200) << pong.text;
    EXPECT_EQ(daemon.call("GET", "/instances/fds/logs").status, 200);
    auto vmms = vmm_processes(daemon.data_dir() + "/guests");
    ASSERT_EQ(vmms.count(id), 1u);
    // broodd's own descriptors are all close-on-exec; what it inherited from
    // this test process (the same descriptors, open here) is not its doing.
    std::vector<std::string> ours;
    std::vector<std::string> inherited = inheritable_fds(::getpid());
    for (const std::string& fd : inheritable_fds(daemon.pid()))
        if (std::find(inherited.begin(), inherited.end(), fd) == inherited.end()) ours.push_back(fd);
    EXPECT_EQ(join(ours), "") << "broodd";
    // A VMM holds nothing it did not open itself, inherited or not.
    EXPECT_EQ(join(inheritable_fds(vmms.at(id))), "") << "brood-vmm";
}

TEST_F(BrooddWithToken, VmmEnvironmentHasNoDaemonSecret) {
    std::string id = running("env");
    auto vmms = vmm_processes(daemon.data_dir() + "/guests");
    ASSERT_EQ(vmms.count(id), 1u);
    std::ifstream in("/proc/" + std::to_string(vmms.at(id)) + "/environ", std::ios::binary);
    std::string env((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(env.find("s3cret-daemon-token"), std::string::npos);
    EXPECT_EQ(env, std::string("PATH=/usr/sbin:/usr/bin:/sbin:/bin") + '\0');
}
