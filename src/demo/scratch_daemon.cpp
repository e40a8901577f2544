#include "demo/scratch_daemon.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

namespace brood::demo {
namespace {

namespace fs = std::filesystem;

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

Result<std::unique_ptr<ScratchDaemon>> ScratchDaemon::start(const std::string& broodd, const std::string& vmm,
                                                            const std::string& images_dir) {
    std::unique_ptr<ScratchDaemon> d(new ScratchDaemon(TRY(client::make_scratch_dir("brood-demo"))));
    clean_up_on_signal(d->_dir);
    client::LaunchOptions options;
    options.broodd = broodd;
    options.vmm = vmm;
    options.dir = d->_dir;
    options.images_dirs = {images_dir};
    d->_broodd.emplace(TRY(client::BrooddProcess::start(options)));
    return d;
}

ScratchDaemon::~ScratchDaemon() {
    std::lock_guard lock(g_cleanup);
    if (_broodd) _broodd->stop();
    client::kill_processes_mentioning(_dir + "/");
    remove_dir(_dir);
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
        client::kill_processes_mentioning(dir + "/");
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
