// Scratch directories and what runs in them.
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>
#include <vector>

#include "client/broodd_process.hpp"

namespace brood::client {
namespace {

std::vector<pid_t> pids_mentioning(const std::string& needle) {
    std::vector<pid_t> found;
    DIR* proc = ::opendir("/proc");
    if (!proc) return found;
    pid_t self = ::getpid();
    while (dirent* e = ::readdir(proc)) {
        char* end = nullptr;
        long pid = std::strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == self) continue;
        std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
        std::string cmdline{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        if (cmdline.find(needle) != std::string::npos) found.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(proc);
    return found;
}

// Alive: listed in /proc and not a zombie.
bool alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    std::getline(stat, text);
    size_t paren = text.rfind(')');
    return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
}

} // namespace

Result<std::string> make_scratch_dir(const std::string& prefix) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/" + prefix + ".XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) return fail_errno("mkdtemp " + pattern);
    return std::string(buf.data());
}

int kill_processes_mentioning(const std::string& needle) {
    auto pids = pids_mentioning(needle);
    int killed = static_cast<int>(pids.size());
    for (pid_t pid : pids) ::kill(pid, SIGKILL);
    // Our own children are reaped by their owners; the VMMs broodd started
    // are not ours: wait until /proc no longer lists them as alive.
    for (int i = 0; i < 200 && !pids.empty(); ++i) {
        std::vector<pid_t> still;
        for (pid_t pid : pids)
            if (alive(pid)) still.push_back(pid);
        pids.swap(still);
        if (!pids.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return killed;
}

} // namespace brood::client
