#include "support/qemu_template.hpp"

#include <dirent.h>

#include <fstream>
#include <thread>

#include <fmt/format.h>

namespace brood::bench::qemu_template {
namespace {

const nlohmann::json kIgnoreShared = {
    {"capabilities", nlohmann::json::array({{{"capability", "x-ignore-shared"}, {"state", true}}})}};

// How often a restoring QEMU is asked whether its incoming migration ended:
// a bound on the error this adds to QEMU's times.
constexpr auto kStatusPoll = std::chrono::microseconds(500);

bool has_live_child(pid_t pid) {
    std::string tasks = fmt::format("/proc/{}/task", pid);
    DIR* dir = ::opendir(tasks.c_str());
    if (!dir) return false;
    bool live = false;
    while (dirent* e = ::readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream children(tasks + "/" + e->d_name + "/children");
        for (pid_t child; !live && children >> child;) {
            std::ifstream stat(fmt::format("/proc/{}/stat", child));
            std::string text;
            std::getline(stat, text);
            size_t paren = text.rfind(')');
            live = paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] != 'Z';
        }
    }
    ::closedir(dir);
    return live;
}

} // namespace

std::vector<std::string> with_qmp(std::vector<std::string> command, const std::string& qmp_path) {
    command.insert(command.end(), {"-qmp", fmt::format("unix:{},server=on,wait=off", qmp_path)});
    return command;
}

std::vector<std::string> with_memory_file(std::vector<std::string> command, uint64_t memory_mib,
                                          const std::string& mem_path, bool share) {
    for (size_t i = 0; i + 1 < command.size(); ++i)
        if (command[i] == "-M") command[i + 1] += ",memory-backend=mem";
    command.insert(command.end(), {"-object", fmt::format("memory-backend-file,id=mem,size={}M,mem-path={},share={}",
                                                          memory_mib, mem_path, share ? "on" : "off")});
    return command;
}

std::vector<std::string> clone_command(const std::vector<std::string>& command, uint64_t memory_mib,
                                       const std::string& mem_path, const std::string& qmp_path) {
    auto clone = with_qmp(with_memory_file(command, memory_mib, mem_path, false), qmp_path);
    clone.insert(clone.end(), {"-incoming", "defer"});
    return clone;
}

Result<void> wait_children_gone(pid_t pid, Clock::time_point deadline) {
    while (has_live_child(pid)) {
        if (Clock::now() >= deadline) return fail("QEMU's migration helper did not finish");
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return {};
}

Result<void> wait_migration(Qmp& qmp, Clock::time_point deadline) {
    for (;;) {
        auto event = TRY(qmp.wait_event("MIGRATION", deadline));
        const std::string status = event["data"].value("status", "");
        if (status == "completed") return {};
        if (status == "failed" || status == "cancelled") return fail("QEMU migration " + status);
    }
}

Result<void> save_template(Qmp& qmp, pid_t qemu_pid, const std::string& state_file, Clock::time_point deadline) {
    auto caps = kIgnoreShared;
    caps["capabilities"].push_back({{"capability", "events"}, {"state", true}});
    TRY(qmp.execute("migrate-set-capabilities", caps));
    TRY(qmp.execute("stop"));
    TRY(qmp.execute("migrate", {{"uri", fmt::format("exec:cat > {}", state_file)}}));
    TRY(wait_migration(qmp, deadline));
    return wait_children_gone(qemu_pid, deadline);
}

Result<Qmp> resume_clone(const Child& clone, const std::string& qmp_path, const std::string& state_file,
                         Clock::time_point deadline) {
    auto qmp = TRY_CTX(Qmp::connect(qmp_path, deadline), clone.stderr_tail());
    TRY(qmp.execute("migrate-set-capabilities", kIgnoreShared));
    TRY(qmp.execute("migrate-incoming", {{"uri", fmt::format("exec:cat {}", state_file)}}));
    for (;;) {
        auto status = TRY(qmp.execute("query-status"));
        const std::string now = status.value("status", "");
        if (now == "running") return qmp;
        if (now != "inmigrate" && now != "prelaunch") {
            TRY(qmp.execute("cont"));
            TRY(qmp.wait_event("RESUME", deadline));
            return qmp;
        }
        if (Clock::now() >= deadline) return fail("QEMU: incoming migration did not finish");
        std::this_thread::sleep_for(kStatusPoll);
    }
}

} // namespace brood::bench::qemu_template
