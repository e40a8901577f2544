#include "demo/scratch_daemon.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/http/client.hpp"

extern char** environ;

namespace brood::demo {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

bool mentions(pid_t pid, const std::string& needle) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
    std::string cmdline{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    return cmdline.find(needle) != std::string::npos;
}

// SIGKILL to every process whose command line holds `dir/`, and a short wait
// until they are gone (broodd's VMMs are not our children: no waitpid).
void kill_everything_in(const std::string& dir) {
    std::string needle = dir + "/";
    for (int round = 0; round < 100; ++round) {
        bool any = false;
        DIR* proc = ::opendir("/proc");
        if (!proc) return;
        while (dirent* e = ::readdir(proc)) {
            char* end = nullptr;
            long pid = std::strtol(e->d_name, &end, 10);
            if (*end != '\0' || pid <= 0 || pid == ::getpid() || !mentions(static_cast<pid_t>(pid), needle)) continue;
            ::kill(static_cast<pid_t>(pid), SIGKILL);
            any = true;
        }
        ::closedir(proc);
        while (::waitpid(-1, nullptr, WNOHANG) > 0) {
        }
        if (!any) return;
        std::this_thread::sleep_for(10ms);
    }
}

int g_signal_pipe[2] = {-1, -1};
// The signal thread and the normal exit path clean up under this lock, one
// after the other, never both at once.
std::mutex g_cleanup;
std::atomic<bool> g_interrupted{false};

void remove_dir(const std::string& dir) {
    std::error_code ec;
    for (int attempt = 0; attempt < 3 && fs::exists(dir, ec); ++attempt) fs::remove_all(dir, ec);
}

extern "C" void on_stop_signal(int signo) {
    unsigned char byte = static_cast<unsigned char>(signo);
    [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &byte, 1);
}

} // namespace

Result<std::unique_ptr<ScratchDaemon>> ScratchDaemon::start(const std::string& broodd, const std::string& vmm) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/brood-demo.XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) return fail_errno("mkdtemp " + pattern);
    std::unique_ptr<ScratchDaemon> d(new ScratchDaemon(buf.data()));
    clean_up_on_signal(d->_dir);

    std::vector<std::string> args{broodd, "--data-dir", d->data_dir(), "--socket", d->socket(), "--vmm", vmm};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string log = d->_dir + "/broodd.log";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = ::posix_spawn(&d->_pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return fail(Error::from_errno("start " + broodd, rc));

    for (auto deadline = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < deadline;) {
        if (auto c = http::Client::connect_unix(d->socket()); c) {
            if (auto r = c->request("GET", "/version"); r && r->status == 200) return d;
        }
        if (::waitpid(d->_pid, nullptr, WNOHANG) == d->_pid) {
            d->_pid = -1;
            return fail("broodd exited: " + d->log_tail());
        }
        std::this_thread::sleep_for(10ms);
    }
    return fail("broodd did not answer within 10 s: " + d->log_tail());
}

ScratchDaemon::~ScratchDaemon() {
    std::lock_guard lock(g_cleanup);
    if (_pid > 0) {
        ::kill(_pid, SIGTERM);
        for (int i = 0; i < 300 && ::waitpid(_pid, nullptr, WNOHANG) == 0; ++i) std::this_thread::sleep_for(10ms);
    }
    kill_everything_in(_dir);
    remove_dir(_dir);
}

std::string ScratchDaemon::log_tail() const {
    std::ifstream in(_dir + "/broodd.log");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    if (text.size() > 800) text = "..." + text.substr(text.size() - 800);
    return text.empty() ? "(broodd's log is empty)" : text;
}

bool interrupted() { return g_interrupted; }

void clean_up_on_signal(const std::string& dir) {
    if (::pipe2(g_signal_pipe, O_CLOEXEC) < 0) return;
    std::thread([dir] {
        unsigned char signo = 0;
        while (::read(g_signal_pipe[0], &signo, 1) < 0 && errno == EINTR) {
        }
        g_interrupted = true;
        std::lock_guard lock(g_cleanup);
        std::fprintf(stderr, "\ndemo: interrupted: stopping broodd and its VMs, removing %s\n", dir.c_str());
        kill_everything_in(dir);
        remove_dir(dir);
        std::_Exit(128 + signo);
    }).detach();
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(s, &action, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
}

} // namespace brood::demo
