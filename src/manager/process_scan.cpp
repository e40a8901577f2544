#include "manager/process_scan.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <iterator>
#include <vector>

#include "common/read_file.hpp"

namespace brood::manager {

namespace {

std::vector<std::string> read_cmdline(pid_t pid) {
    std::string raw = read_file("/proc/" + std::to_string(pid) + "/cmdline", 64 * 1024).value_or("");
    std::vector<std::string> args;
    size_t pos = 0;
    while (pos < raw.size()) {
        size_t end = raw.find('\0', pos);
        if (end == std::string::npos) end = raw.size();
        args.push_back(raw.substr(pos, end - pos));
        pos = end + 1;
    }
    return args;
}

bool is_zombie(pid_t pid) {
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat", 4096).value_or("");
    size_t paren = stat.rfind(')');
    return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z' || stat[paren + 2] == 'X';
}

// A command line is only what a process says of itself: a VMM to adopt must
// also be ours and run a program named brood-vmm (a rebuilt binary shows as
// "brood-vmm (deleted)"). Ours: it runs as this daemon's user, or, boxed
// under its own uid, as the uid this (root) daemon handed its instance
// directory to; only root can have done that, inside a data directory only
// root can enter.
bool is_our_vmm_binary(pid_t pid, const std::string& instance_dir) {
    const std::string proc = "/proc/" + std::to_string(pid);
    struct stat st{};
    if (::stat(proc.c_str(), &st) < 0) return false;
    if (st.st_uid != ::geteuid()) {
        struct stat dir{};
        if (::geteuid() != 0 || st.st_uid == 0 || ::stat(instance_dir.c_str(), &dir) < 0 || dir.st_uid != st.st_uid)
            return false;
    }
    char target[4096];
    ssize_t n = ::readlink((proc + "/exe").c_str(), target, sizeof target - 1);
    if (n <= 0) return false;
    std::string exe(target, static_cast<size_t>(n));
    const std::string deleted = " (deleted)";
    if (exe.size() > deleted.size() && exe.compare(exe.size() - deleted.size(), deleted.size(), deleted) == 0)
        exe.resize(exe.size() - deleted.size());
    return exe.substr(exe.rfind('/') + 1) == "brood-vmm";
}

// The --control-socket argument of a brood-vmm command line, or "".
std::string control_socket_of(const std::vector<std::string>& args) {
    if (args.empty()) return "";
    const std::string& argv0 = args[0];
    std::string base = argv0.substr(argv0.rfind('/') == std::string::npos ? 0 : argv0.rfind('/') + 1);
    if (base != "brood-vmm") return "";
    for (size_t i = 1; i + 1 < args.size(); ++i)
        if (args[i] == "--control-socket") return args[i + 1];
    return "";
}

} // namespace

std::map<std::string, pid_t> find_vmm_processes(const std::string& guests_dir) {
    std::map<std::string, pid_t> found;
    DIR* proc = ::opendir("/proc");
    if (!proc) return found;
    const std::string prefix = guests_dir + "/";
    const std::string suffix = "/control.sock";
    while (dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        long pid = std::strtol(entry->d_name, &end, 10);
        if (pid <= 0 || *end != '\0') continue;
        std::string sock = control_socket_of(read_cmdline(static_cast<pid_t>(pid)));
        if (sock.size() <= prefix.size() + suffix.size() || sock.compare(0, prefix.size(), prefix) != 0) continue;
        if (sock.compare(sock.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
        std::string id = sock.substr(prefix.size(), sock.size() - prefix.size() - suffix.size());
        if (id.find('/') != std::string::npos || is_zombie(static_cast<pid_t>(pid))) continue;
        if (!is_our_vmm_binary(static_cast<pid_t>(pid), guests_dir + "/" + id)) continue;
        found[id] = static_cast<pid_t>(pid);
    }
    ::closedir(proc);
    return found;
}

bool is_vmm_for(pid_t pid, const std::string& control_socket) {
    if (pid <= 0 || is_zombie(pid) || control_socket_of(read_cmdline(pid)) != control_socket) return false;
    const size_t slash = control_socket.rfind('/');
    return is_our_vmm_binary(pid, slash == std::string::npos ? "." : control_socket.substr(0, slash));
}

} // namespace brood::manager
