// The host side of bench_fork: reflink support, and killing everything the
// bench started.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <iterator>
#include <thread>

#include <fmt/format.h>

#include "common/unique_fd.hpp"
#include "fork/fork.hpp"

namespace brood::bench::fork {
namespace {


int g_signal_pipe[2] = {-1, -1};
std::atomic<bool> g_signalled{false};

extern "C" void on_stop_signal(int signo) {
    g_signalled = true;
    unsigned char byte = static_cast<unsigned char>(signo);
    [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &byte, 1);
}

} // namespace

bool reflink_works(const std::string& dir) {
    std::string a = dir + "/.reflink-probe-a", b = dir + "/.reflink-probe-b";
    bool works = false;
    {
        UniqueFd src(::open(a.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        UniqueFd dst(::open(b.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        std::vector<char> block(4096, 'x');
        if (src && dst && ::write(src.get(), block.data(), block.size()) == static_cast<ssize_t>(block.size()) &&
            ::fsync(src.get()) == 0)
            works = ::ioctl(dst.get(), FICLONE, src.get()) == 0;
    }
    ::unlink(a.c_str());
    ::unlink(b.c_str());
    return works;
}


bool signalled() { return g_signalled; }

void kill_on_signal(const std::string& needle) {
    if (::pipe2(g_signal_pipe, O_CLOEXEC) < 0) return;
    std::thread([needle] {
        unsigned char signo = 0;
        while (::read(g_signal_pipe[0], &signo, 1) < 0 && errno == EINTR) {
        }
        note("bench_fork: signal {}: killing broodd, its VMMs and QEMUs", static_cast<int>(signo));
        client::kill_processes_mentioning(needle);
        ::signal(signo, SIG_DFL);
        ::raise(signo);
    }).detach();
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(s, &action, nullptr);
}

} // namespace brood::bench::fork
