// A running daemon and its VMMs: no descriptor survives an exec, no daemon
// secret reaches a VMM, and bytes that are not UTF-8 get an answer.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/http/client.hpp"
#include "common/read_file.hpp"
#include "common/unique_fd.hpp"
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

namespace {

// Sends raw bytes on a unix socket; what comes back before the server closes.
std::string raw_exchange(const std::string& path, const std::string& data) {
    brood::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) return "";
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return "";
    timeval tv{5, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::write(fd.get(), data.data(), data.size()) != static_cast<ssize_t>(data.size())) return "";
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
}

} // namespace

TEST_F(Broodd, InvalidUtf8InPathsIsAnsweredByDaemonAndVmm) {
    std::string id = running("utf");
    const std::string request = "GET /instances/\xff\xfe HTTP/1.1\r\nConnection: close\r\n\r\n";
    std::string daemon_answer = raw_exchange(daemon.socket(), request);
    EXPECT_EQ(daemon_answer.rfind("HTTP/1.1 404 ", 0), 0u) << daemon_answer;
    std::string vmm_socket = daemon.data_dir() + "/guests/" + id + "/control.sock";
    std::string vmm_answer = raw_exchange(vmm_socket, "GET /vm/\xff HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(vmm_answer.rfind("HTTP/1.1 404 ", 0), 0u) << vmm_answer;
    // Both keep serving, and the guest keeps running.
    EXPECT_EQ(daemon.call("GET", "/instances/utf").status, 200);
    EXPECT_EQ(state_of("utf"), "Running");
    auto pong = daemon.call("POST", "/instances/utf/console", {{"input", "ping"}, {"until", "pong"}});
    EXPECT_EQ(pong.status, 200) << pong.text;
}

// Kernels, initrds and disks come only from the image directories, and a
// VMM gets them as open files: its command line names /proc/self/fd/N, and
// once its machine is built it holds no descriptor of them.
TEST_F(Broodd, ImagesComeOnlyFromTheImageDirectoriesAsOpenFiles) {
    auto outside = daemon.call("POST", "/instances",
                               {{"name", "outside"}, {"kernel", guest_kernel()}, {"initrd", "/etc/passwd"}});
    EXPECT_EQ(outside.status, 400) << outside.text;
    EXPECT_NE(outside.text.find("outside the image directories"), std::string::npos) << outside.text;
    // A symlink inside an image directory is judged by where it leads.
    const std::string link = daemon.dir() + "/passwd-link";
    ASSERT_EQ(::symlink("/etc/passwd", link.c_str()), 0);
    auto linked = daemon.call("POST", "/instances",
                              {{"name", "linked"}, {"kernel", guest_kernel()}, {"disks", {{{"path", link}}}}});
    EXPECT_EQ(linked.status, 400) << linked.text;
    EXPECT_NE(linked.text.find("outside the image directories"), std::string::npos) << linked.text;

    running("images");
    pid_t pid = daemon.call("GET", "/instances/images").body.value("pid", 0);
    ASSERT_GT(pid, 0);
    std::string cmdline = brood::read_file("/proc/" + std::to_string(pid) + "/cmdline").value_or("");
    EXPECT_NE(cmdline.find(std::string("--kernel\0/proc/self/fd/4\0", 25)), std::string::npos) << cmdline;
    const auto kernel = std::filesystem::canonical(guest_kernel());
    std::error_code ec;
    for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code link_ec;
        EXPECT_NE(std::filesystem::read_symlink(fd.path(), link_ec), kernel) << "fd " << fd.path().filename();
    }
}

// Guest memory, logs and sockets are the daemon user's alone.
TEST_F(Broodd, NothingInTheDataDirIsOpenToOtherUsers) {
    running("private");
    ASSERT_EQ(daemon.call("POST", "/instances/private/standby").status, 200);
    namespace fs = std::filesystem;
    std::vector<std::string> open_to_others;
    auto check = [&](const fs::path& p) {
        struct stat st{};
        if (::lstat(p.c_str(), &st) == 0 && (st.st_mode & 077) != 0 && !S_ISLNK(st.st_mode))
            open_to_others.push_back(fmt::format("{:o} {}", st.st_mode & 07777, p.string()));
    };
    check(daemon.data_dir());
    size_t seen = 0;
    for (const auto& entry : fs::recursive_directory_iterator(daemon.data_dir())) {
        check(entry.path());
        ++seen;
    }
    EXPECT_GT(seen, 5u); // the instance's record, logs and snapshot were walked
    EXPECT_TRUE(open_to_others.empty()) << join(open_to_others);
}

namespace {

std::string proc_status_field(pid_t pid, const std::string& key) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind(key + ":", 0) == 0) {
            std::string v = line.substr(key.size() + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
    return "";
}

} // namespace

// A broodd run as root boxes every VMM in: its own uid, no capabilities,
// no_new_privs, a seccomp filter and its own mount and PID namespaces; the guest
// still runs, and a standby (which the boxed VMM writes) still works.
TEST_F(Broodd, EveryVmmRunsInItsOwnBox) {
    if (::geteuid() != 0) GTEST_SKIP() << "broodd boxes its VMMs only when it runs as root";
    std::string id = running("boxed");
    auto view = daemon.call("GET", "/instances/boxed").body;
    pid_t pid = view.value("pid", 0);
    ASSERT_GT(pid, 0) << view.dump();
    const std::string uid = std::to_string(200'000 + view.value("vsock_cid", 0));
    EXPECT_EQ(proc_status_field(pid, "Uid").substr(0, uid.size()), uid);
    for (const char* caps : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
        EXPECT_EQ(proc_status_field(pid, caps), "0000000000000000") << caps;
    EXPECT_EQ(proc_status_field(pid, "NoNewPrivs"), "1");
    EXPECT_EQ(proc_status_field(pid, "Seccomp"), "2");
    EXPECT_NE(std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/ns/mnt"),
              std::filesystem::read_symlink("/proc/self/ns/mnt"));
    // PID 1 of its own PID namespace: its pid there is 1, and it sees no other process.
    EXPECT_NE(std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/ns/pid"),
              std::filesystem::read_symlink("/proc/self/ns/pid"));
    EXPECT_EQ(proc_status_field(pid, "NSpid"), std::to_string(pid) + "\t1");
    // In a cgroup of its own, with its memory and pids limits.
    std::string cgroups = brood::read_file("/proc/" + std::to_string(pid) + "/cgroup").value_or("");
    EXPECT_NE(cgroups.find("/brood-vmm-" + id + "\n"), std::string::npos) << cgroups;
    // Every thread of it: on v1 it joins with its first thread, which makes the others.
    size_t threads = 0;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
        ++threads;
        EXPECT_EQ(brood::read_file(task.path().string() + "/cgroup").value_or(""), cgroups) << task.path();
    }
    EXPECT_GT(threads, 1u) << "vCPU and API threads";
    // Its root is its instance directory: no host file outside it resolves.
    const std::string root = "/proc/" + std::to_string(pid) + "/root";
    EXPECT_TRUE(std::filesystem::equivalent(root, daemon.guests_dir() + "/" + id)) << "the VMM's root";
    EXPECT_TRUE(std::filesystem::exists(root + "/logs/serial.log"));
    for (const char* host_file : {"/etc/passwd", "/dev/kvm", "/proc/self/status", "/usr/bin"})
        EXPECT_FALSE(std::filesystem::exists(root + host_file)) << host_file << " is reachable from the box";
    auto pong = daemon.call("POST", "/instances/boxed/console", {{"input", "ping"}, {"until", "pong"}});
    EXPECT_EQ(pong.status, 200) << pong.text;
    // A resume tells the guest it was stopped, which the filter allows.
    auto paused = daemon.call("POST", "/instances/boxed/pause");
    ASSERT_EQ(paused.status, 200) << paused.text;
    auto resumed = daemon.call("POST", "/instances/boxed/resume");
    ASSERT_EQ(resumed.status, 200) << resumed.text;
    EXPECT_EQ(daemon.call("POST", "/instances/boxed/console", {{"input", "ping"}, {"until", "pong"}}).status, 200)
        << daemon.call("GET", "/instances/boxed").text;
    auto standby = daemon.call("POST", "/instances/boxed/standby");
    ASSERT_EQ(standby.status, 200) << standby.text;
    auto back = daemon.call("POST", "/instances/boxed/restore");
    ASSERT_EQ(back.status, 200) << back.text;
    EXPECT_EQ(daemon.call("POST", "/instances/boxed/console", {{"input", "ping"}, {"until", "pong"}}).status, 200);
    // What the VMM reads of itself once boxed (/proc/self/statm) still answers.
    pid_t restored = daemon.call("GET", "/instances/boxed").body.value("pid", 0);
    EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(restored) + "/root/etc/passwd"));
    auto vmm_api = brood::http::Client::connect_unix(daemon.guests_dir() + "/" + id + "/control.sock");
    ASSERT_TRUE(vmm_api) << vmm_api.error().message();
    auto stats = vmm_api->request("GET", "/vm/stats");
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_EQ(stats->status, 200) << stats->body;
    EXPECT_GT(nlohmann::json::parse(stats->body, nullptr, false).value("rss_kib", 0), 0) << stats->body;
    // Deleted, the instance leaves no cgroup behind.
    std::vector<std::string> cgroup_dirs;
    std::istringstream lines(cgroups);
    for (std::string line; std::getline(lines, line);) {
        size_t a = line.find(':'), b = line.find(':', a + 1);
        if (line.size() > b && line.find("/brood-vmm-" + id, b) != std::string::npos) {
            std::string controllers = line.substr(a + 1, b - a - 1);
            cgroup_dirs.push_back("/sys/fs/cgroup/" + (controllers.empty() ? "" : controllers) + line.substr(b + 1));
        }
    }
    ASSERT_FALSE(cgroup_dirs.empty()) << cgroups;
    for (const auto& dir : cgroup_dirs) EXPECT_TRUE(std::filesystem::exists(dir)) << dir;
    ASSERT_EQ(daemon.call("DELETE", "/instances/boxed").status, 204);
    for (const auto& dir : cgroup_dirs) EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}
