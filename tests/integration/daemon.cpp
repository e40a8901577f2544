#include "daemon.hpp"

#include "stall_report.hpp"
#include "vm_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "api/routes.hpp"
#include "client/client.hpp"
#include "common/http/server.hpp"
#include "manager/manager.hpp"
#include "manager/process_scan.hpp"

namespace brood::testing {

namespace fs = std::filesystem;

using test::env_or;
// BROOD_TEST_BROODD also lets a sanitizer build of the daemon run these tests.
std::string broodd_binary() { return env_or("BROOD_TEST_BROODD", BROOD_TEST_BROODD); }
std::string brood_binary() { return env_or("BROOD_TEST_BROOD", BROOD_TEST_BROOD); }
std::string vmm_binary() { return env_or("BROOD_VMM", BROOD_TEST_VMM); }
std::string guest_kernel() { return env_or("BROOD_TEST_GUEST", BROOD_TEST_GUEST); }
bool have_kvm() { return test::have_kvm(); }

std::vector<std::string> Daemon::images_dirs() {
    std::vector<std::string> candidates{fs::path(guest_kernel()).parent_path().string(), test::assets_dir(),
                                        fs::temp_directory_path().string()};
    if (const char* images = std::getenv("BROOD_GUEST_IMAGES"); images && *images) candidates.push_back(images);
    // The build's guest-images/, beside the test guest's directory.
    candidates.push_back((fs::path(guest_kernel()).parent_path().parent_path() / "guest-images").string());
    std::vector<std::string> dirs;
    for (const auto& dir : candidates) {
        std::error_code ec;
        if (!dir.empty() && fs::is_directory(dir, ec)) dirs.push_back(dir);
    }
    return dirs;
}

int free_tcp_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

struct Daemon::InProcess {
    std::unique_ptr<manager::Manager> manager;
    std::optional<http::Server> server;
    ~InProcess() {
        if (server) server->stop();
    }
};

Daemon::Daemon() {
    char tmpl[] = "/tmp/brood-it-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    _dir = tmpl;
    _socket = _dir + "/brood.sock";
}

Daemon::~Daemon() {
    kill9();
    // A sanitizer build of the daemon (BROOD_TEST_BROODD) reports here.
    std::ifstream log_file(log());
    std::string text((std::istreambuf_iterator<char>(log_file)), std::istreambuf_iterator<char>());
    for (const char* marker : {"ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer"})
        if (text.find(marker) != std::string::npos) ADD_FAILURE() << "broodd sanitizer report:\n" << text;
    for (const auto& [id, pid] : vmm_processes(guests_dir())) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0); // reaps the VMMs of an in-process daemon (ECHILD for others)
    }
    if (::geteuid() == 0) brood::manager::remove_daemon_cgroups(_dir + "/data");
    std::error_code ec;
    if (::testing::Test::HasFailure() && std::getenv("BROOD_KEEP_FAILED")) return;
    fs::remove_all(_dir, ec);
}

void Daemon::start(const std::vector<std::string>& extra_args) {
    client::LaunchOptions options;
    options.broodd = broodd_binary();
    options.vmm = vmm_binary();
    options.dir = _dir;
    options.extra_args = extra_args;
    options.images_dirs = images_dirs();
    options.ready_timeout = std::chrono::seconds(30);
    auto started = client::BrooddProcess::start(options);
    ASSERT_TRUE(started) << started.error().message();
    _broodd.emplace(std::move(*started));
}

void Daemon::start_in_process(manager::VmmFaultHook vmm_fault) {
    manager::ManagerConfig config;
    config.data_dir = data_dir();
    config.vmm_binary = vmm_binary();
    config.images_dirs = images_dirs();
    config.vmm_fault = std::move(vmm_fault);
    auto opened = manager::Manager::open(config);
    ASSERT_TRUE(opened) << opened.error().message();
    _in_process = std::make_unique<InProcess>();
    _in_process->manager = std::move(*opened);
    auto server = http::Server::listen_unix(_socket, 0600);
    ASSERT_TRUE(server) << server.error().message();
    _in_process->server.emplace(std::move(*server));
    ASSERT_TRUE(_in_process->server->start(api::make_router(*_in_process->manager)));
}

void kill9_and_wait(pid_t pid) {
    // Its pidfd turns readable once every thread has exited (the process
    // is then a zombie, or gone): what the daemon's own pidfd sees.
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    ::kill(pid, SIGKILL);
    if (fd < 0) return; // already gone
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, 10'000);
    ::close(fd);
    if (ready != 1) ADD_FAILURE() << "vmm " << pid << " survived SIGKILL";
}

void Daemon::kill9() {
    _in_process.reset();
    _broodd.reset(); // SIGKILL, reaped
}

void Daemon::terminate() {
    if (_broodd) _broodd->stop(std::chrono::seconds(60));
    _broodd.reset();
}

std::string Daemon::log() const { return _dir + "/broodd.log"; }

Reply Daemon::call(const std::string& method, const std::string& path, const nlohmann::json& body,
                   int timeout_ms) const {
    Reply reply;
    auto c = client::Client::connect(_socket);
    if (!c) return reply;
    auto answer = c->request(method, path, body, timeout_ms);
    if (!answer) return reply;
    reply.status = answer->status;
    reply.text = std::move(answer->text);
    reply.content_type = std::move(answer->content_type);
    reply.body = std::move(answer->body);
    return reply;
}

Reply Daemon::call_bytes(const std::string& method, const std::string& path, const std::string& body,
                         int timeout_ms) const {
    Reply reply;
    auto c = client::Client::connect(_socket);
    if (!c) return reply;
    auto answer = c->request_bytes(method, path, body, timeout_ms);
    if (!answer) return reply;
    reply.status = answer->status;
    reply.text = std::move(answer->text);
    reply.content_type = std::move(answer->content_type);
    reply.body = std::move(answer->body);
    return reply;
}

nlohmann::json Daemon::create(const std::string& name, int memory_mib) const {
    Reply r = call("POST", "/instances",
                   {{"name", name}, {"kernel", guest_kernel()}, {"memory_mib", memory_mib}, {"vcpus", 1}});
    EXPECT_EQ(r.status, 201) << r.text;
    return r.body;
}

size_t Daemon::log_size(const std::string& ref) const { return call("GET", "/instances/" + ref + "/logs").text.size(); }

bool Daemon::wait_guest_ready(const std::string& ref, size_t from, int timeout_ms, const std::string& marker,
                              int quiet_ms) const {
    using std::chrono::steady_clock;
    auto deadline = steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    size_t seen = 0;
    auto grew_at = steady_clock::now();
    while (steady_clock::now() < deadline) {
        Reply r = call("GET", "/instances/" + ref + "/logs");
        size_t at = r.text.find(marker, from);
        if (r.status == 200 && at != std::string::npos && r.text.find('\n', at) != std::string::npos) return true;
        if (r.text.size() != seen) {
            seen = r.text.size();
            grew_at = steady_clock::now();
        } else if (quiet_ms > 0 && steady_clock::now() - grew_at > std::chrono::milliseconds(quiet_ms)) {
            std::cerr << ref << ": the guest has printed nothing for " << quiet_ms << " ms; its log ends: \""
                      << r.text.substr(r.text.size() > 2000 ? r.text.size() - 2000 : 0) << "\"\n";
            for (pid_t pid : test::brood_vmm_pids()) std::cerr << test::stall_report(pid);
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

std::string Daemon::console(const std::string& ref, const std::string& input, const std::string& until,
                            int timeout_ms) const {
    Reply r = call("POST", "/instances/" + ref + "/console",
                   {{"input", input}, {"until", until}, {"timeout_ms", timeout_ms}});
    EXPECT_EQ(r.status, 200) << "console " << input << ": " << r.text;
    if (r.status == 504) {
        // Why no answer came: what the VMM's threads do, and whether one more
        // line gets the guest talking again (an interrupt was lost) or not
        // (the guest itself stopped).
        pid_t pid = call("GET", "/instances/" + ref).body.value("pid", 0);
        if (pid > 0) std::cerr << test::stall_report(pid);
        Reply nudge = call("POST", "/instances/" + ref + "/console",
                           {{"input", ""}, {"until", "#"}, {"timeout_ms", 5000}});
        std::cerr << ref << ": after one more line the console says (" << nudge.status << "): " << nudge.text << "\n";
    }
    return r.status == 200 ? r.body.value("output", "") : "";
}

// The instances the API reports agree with the processes and the disk.
void expect_consistent(const Daemon& d) {
    auto list = d.call("GET", "/instances");
    ASSERT_EQ(list.status, 200);
    auto processes = vmm_processes(d.guests_dir());
    std::set<std::string> ids;
    for (const auto& inst : list.body) {
        std::string id = inst["id"], state = inst["state"];
        ids.insert(id);
        bool live = state == "Running" || state == "Paused";
        auto proc = processes.find(id);
        EXPECT_EQ(live, proc != processes.end()) << id << " is " << state << " but its VMM "
                                                 << (live ? "is missing" : "runs");
        if (live && proc != processes.end()) {
            EXPECT_EQ(inst["pid"], proc->second);
        }
        EXPECT_FALSE(inst.contains("pending_op")) << inst.dump();
        std::string snaps = d.guests_dir() + "/" + id + "/snapshots";
        if (state == "Standby") {
            EXPECT_TRUE(fs::exists(snaps + "/snapshot-latest/state"));
            EXPECT_TRUE(fs::exists(snaps + "/snapshot-latest/memory"));
        }
        if (state == "Stopped") { // a Stopped instance has no snapshot and names no template
            EXPECT_FALSE(inst.value("snapshot_present", true)) << inst.dump();
            EXPECT_TRUE(inst["template_id"].is_null()) << inst.dump();
            EXPECT_FALSE(fs::exists(snaps + "/snapshot-latest")) << "a Stopped instance keeps " << snaps;
        }
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(snaps, ec))
            EXPECT_EQ(e.path().filename(), "snapshot-latest") << "leftover " << e.path();
    }
    for (const auto& [id, pid] : processes) EXPECT_TRUE(ids.count(id)) << "stray VMM " << pid << " for " << id;
    for (const auto& e : fs::directory_iterator(d.guests_dir()))
        EXPECT_TRUE(ids.count(e.path().filename().string())) << "leaked directory " << e.path();
    auto templates = d.call("GET", "/templates");
    ASSERT_EQ(templates.status, 200);
    for (const auto& t : templates.body) {
        size_t live = 0;
        for (const auto& inst : list.body) live += inst["template_id"] == t["id"] ? 1 : 0;
        EXPECT_EQ(t["fork_count"], live) << "fork count of template " << t["name"];
    }
}

std::map<std::string, pid_t> vmm_processes(const std::string& guests_dir) {
    return manager::find_vmm_processes(guests_dir);
}

std::map<std::string, std::string> tree_digest(const std::string& root) {
    std::map<std::string, std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        std::string rel = fs::relative(it->path(), root).string();
        if (it->is_regular_file()) {
            auto size = it->file_size();
            std::string digest = std::to_string(size);
            if (size < 65536) {
                std::ifstream in(it->path(), std::ios::binary);
                std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
                digest += ":" + std::to_string(std::hash<std::string>{}(content));
            }
            out[rel] = digest;
        } else {
            out[rel] = it->is_directory() ? "dir" : "other";
        }
    }
    return out;
}

} // namespace brood::testing
