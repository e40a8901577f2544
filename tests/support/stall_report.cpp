#include "stall_report.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "common/read_file.hpp"
#include "common/unique_fd.hpp"

namespace brood::test {
namespace {

namespace fs = std::filesystem;

// /proc and tracefs files: empty where they cannot be read.
std::string read_text(const fs::path& path, size_t max = 64 * 1024) { return read_file(path, max).value_or(""); }

bool write_text(const fs::path& path, const std::string& text, bool append = false) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | (append ? O_APPEND : O_TRUNC)));
    return fd && ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::vector<std::string> thread_ids(pid_t pid) {
    std::vector<std::string> tids;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fmt::format("/proc/{}/task", pid), ec))
        tids.push_back(e.path().filename().string());
    std::sort(tids.begin(), tids.end());
    return tids;
}

// The state letter of /proc/<pid>/task/<tid>/stat (after the command in parentheses).
std::string thread_state(const std::string& stat) {
    auto close = stat.rfind(')');
    return close == std::string::npos || close + 2 >= stat.size() ? "?" : stat.substr(close + 2, 1);
}

// KVM's events for these threads over two seconds; empty where tracing is not at hand.
std::string kvm_trace(const std::vector<std::string>& tids) {
    // Tracing is the whole host's: only where the caller asked for it (the
    // hardware-KVM lane does, in its own L1).
    const char* wanted = std::getenv("BROOD_TEST_KVM_TRACE");
    if (!wanted || std::string(wanted) != "1") return "  (BROOD_TEST_KVM_TRACE=1 adds KVM's events here)\n";
    const fs::path t = "/sys/kernel/tracing";
    if (!fs::exists(t / "trace")) (void)::mount("tracefs", t.c_str(), "tracefs", 0, nullptr);
    if (!fs::exists(t / "events/kvm/enable")) return "  (no kvm tracepoints here: not root, or no tracefs)\n";
    write_text(t / "buffer_size_kb", "512");
    write_text(t / "trace", "");
    write_text(t / "set_event_pid", "");
    for (const auto& tid : tids) write_text(t / "set_event_pid", tid + "\n", true);
    if (!write_text(t / "events/kvm/enable", "1")) return "  (cannot enable the kvm tracepoints)\n";
    std::this_thread::sleep_for(std::chrono::seconds(2));
    write_text(t / "events/kvm/enable", "0");
    write_text(t / "set_event_pid", "");

    std::istringstream in(read_text(t / "trace", 64 << 20));
    std::vector<std::string> events;
    std::map<std::string, int> kinds;
    std::map<std::string, std::string> last_of_kind; // a loop's every step, with its operands
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        auto at = line.find(" kvm_");
        if (at != std::string::npos) {
            auto kind = line.substr(at + 1, line.find(':', at) - at - 1);
            ++kinds[kind];
            last_of_kind[kind] = line;
        }
        events.push_back(line);
    }
    std::string out = fmt::format("  {} kvm events in 2 s", events.size());
    for (const auto& [kind, n] : kinds) out += fmt::format(", {} {}", n, kind);
    out += "; the last of each kind:\n";
    for (const auto& [kind, line] : last_of_kind) out += "  " + line + "\n";
    out += "  the last ones:\n";
    for (size_t i = events.size() > 30 ? events.size() - 30 : 0; i < events.size(); ++i) out += "  " + events[i] + "\n";
    return out;
}

} // namespace

std::string stall_report(pid_t vmm) {
    auto tids = thread_ids(vmm);
    if (tids.empty()) return fmt::format("brood-vmm {} has ended\n", vmm);
    std::string out = fmt::format("brood-vmm {}: its threads (state, kernel wait channel):\n", vmm);
    for (const auto& tid : tids) {
        auto dir = fmt::format("/proc/{}/task/{}", vmm, tid);
        out += fmt::format("  {} {} {} {}\n", tid, trimmed(read_text(dir + "/comm")),
                           thread_state(read_text(dir + "/stat")), trimmed(read_text(dir + "/wchan")));
    }
    return out + kvm_trace(tids);
}

std::vector<pid_t> brood_vmm_pids() {
    std::vector<pid_t> pids;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/proc", ec)) {
        auto name = e.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
        if (trimmed(read_text(e.path() / "comm")) == "brood-vmm") pids.push_back(std::stoi(name));
    }
    return pids;
}

} // namespace brood::test
