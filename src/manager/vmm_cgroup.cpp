#include "manager/vmm_cgroup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "common/read_file.hpp"
#include "common/unique_fd.hpp"

namespace brood::manager {

namespace {

constexpr uint64_t kVmmOverheadBytes = 128ull << 20;
constexpr uint64_t kSpareThreads = 16;
constexpr char kVmmPrefix[] = "brood-vmm-";

// The path of broodd's cgroup in the hierarchy with `controller` ("" for
// the v2 line "0::/path"), from /proc/self/cgroup.
std::optional<std::string> own_path(const std::string& self, const std::string& controller) {
    std::istringstream in(self);
    for (std::string line; std::getline(in, line);) {
        size_t a = line.find(':');
        size_t b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) continue;
        std::string controllers = line.substr(a + 1, b - a - 1);
        std::string path = line.substr(b + 1);
        if (path.empty() || path.front() != '/' || path.find("/..") != std::string::npos) continue;
        if (controller.empty() ? controllers.empty() && line.compare(0, a, "0") == 0
                               : ("," + controllers + ",").find("," + controller + ",") != std::string::npos)
            return path == "/" ? "" : path;
    }
    return std::nullopt;
}

Result<void> write_text(const std::string& path, const std::string& text) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return fail_errno("open " + path);
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        return fail_errno(fmt::format("write {:?} to {}", text, path));
    return {};
}

bool has_words(const std::string& text, std::initializer_list<const char*> words) {
    std::istringstream in(text);
    std::string all = " ";
    for (std::string w; in >> w;) all += w + " ";
    for (const char* w : words)
        if (all.find(std::string(" ") + w + " ") == std::string::npos) return false;
    return true;
}

Result<void> make_dir(const std::string& dir) {
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return fail_errno("make cgroup " + dir);
    return {};
}

// v2: the memory and pids controllers for the children of `parent`. The
// kernel refuses (EBUSY) while `parent` itself holds processes.
Result<void> enable_controllers(const std::string& parent) {
    const std::string control = parent + "/cgroup.subtree_control";
    if (has_words(read_file(control).value_or(""), {"memory", "pids"})) return {};
    auto enabled = write_text(control, "+memory +pids");
    if (enabled || enabled.error().errno_value() != EBUSY) return enabled;
    return fail(fmt::format("{} holds processes, so its children cannot have the memory and pids controllers: run "
                            "broodd in a leaf named broodd of a delegated cgroup (systemd: Delegate=yes and "
                            "DelegateSubgroup=broodd)",
                            parent));
}

} // namespace

CgroupLimits vmm_limits(uint32_t memory_mib, uint32_t vcpus) {
    return {(uint64_t{memory_mib} << 20) + kVmmOverheadBytes, uint64_t{vcpus} + kSpareThreads};
}

std::string daemon_group(const std::string& data_dir) {
    uint64_t hash = 1469598103934665603ull; // FNV-1a: the same name on every start
    for (unsigned char c : data_dir) hash = (hash ^ c) * 1099511628211ull;
    return fmt::format("brood-{:016x}", hash);
}

Result<VmmCgroups> VmmCgroups::setup(const std::string& root, const std::string& self, const std::string& group) {
    if (has_words(read_file(root + "/cgroup.controllers").value_or(""), {"memory", "pids"})) {
        auto own = own_path(self, "");
        if (!own) return fail("no cgroup v2 line in /proc/self/cgroup");
        // In a leaf named broodd (systemd's DelegateSubgroup=broodd), the
        // VMMs' cgroups are its siblings; else its children.
        const std::string leaf = "/broodd";
        bool in_leaf = own->size() > leaf.size() && own->compare(own->size() - leaf.size(), leaf.size(), leaf) == 0;
        std::string parent = root + (in_leaf ? own->substr(0, own->size() - leaf.size()) : *own);
        std::string dir = parent + "/" + group;
        TRY_CTX(enable_controllers(parent), "cgroup v2");
        TRY_CTX(make_dir(dir), "cgroup v2");
        TRY_CTX(enable_controllers(dir), "cgroup v2");
        return VmmCgroups(true, dir, dir);
    }
    auto memory = own_path(self, "memory");
    auto pids = own_path(self, "pids");
    bool mounted = ::access((root + "/memory/cgroup.procs").c_str(), W_OK) == 0 &&
                   ::access((root + "/pids/cgroup.procs").c_str(), W_OK) == 0;
    if (!memory || !pids || !mounted)
        return fail(fmt::format("neither cgroup v2 with the memory and pids controllers at {0} nor writable cgroup "
                                "v1 memory and pids hierarchies at {0}/memory and {0}/pids",
                                root));
    VmmCgroups v1(false, root + "/memory" + *memory + "/" + group, root + "/pids" + *pids + "/" + group);
    TRY_CTX(make_dir(v1._memory_parent), "cgroup v1");
    TRY_CTX(make_dir(v1._pids_parent), "cgroup v1");
    return v1;
}

std::vector<std::string> VmmCgroups::dirs_of(const std::string& instance_id) const {
    std::vector<std::string> dirs;
    for (const auto& group : group_dirs()) dirs.push_back(group + "/" + kVmmPrefix + instance_id);
    return dirs;
}

Result<std::vector<std::string>> VmmCgroups::prepare(const std::string& instance_id,
                                                     const CgroupLimits& limits) const {
    auto dirs = dirs_of(instance_id);
    for (const auto& dir : dirs) TRY(make_dir(dir));
    const std::string& memory_dir = dirs.front();
    const std::string& pids_dir = dirs.back();
    TRY(write_text(memory_dir + (_v2 ? "/memory.max" : "/memory.limit_in_bytes"), std::to_string(limits.memory_bytes)));
    TRY(write_text(pids_dir + "/pids.max", std::to_string(limits.pids)));
    // On v1 the VMM writes its one thread into `tasks`: a single thread's
    // move skips the lock a whole process's move takes for writing, which
    // waits out an RCU grace period (6-20 ms a fork here). Its threads and
    // children are born in the cgroups of the thread that makes them. v2
    // moves threads only within a domain, so there it is cgroup.procs.
    std::vector<std::string> joins;
    for (const auto& dir : dirs) joins.push_back(dir + (_v2 ? "/cgroup.procs" : "/tasks"));
    return joins;
}

void VmmCgroups::remove(const std::string& instance_id) const {
    for (const auto& dir : dirs_of(instance_id)) ::rmdir(dir.c_str());
}

std::vector<std::string> VmmCgroups::group_dirs() const {
    if (_v2) return {_memory_parent};
    return {_memory_parent, _pids_parent};
}

void VmmCgroups::remove_group() const {
    for (const auto& group : group_dirs()) ::rmdir(group.c_str());
}

int VmmCgroups::sweep(const std::function<bool(const std::string& instance_id)>& keep) const {
    int removed = 0;
    const std::string prefix = kVmmPrefix;
    for (const auto& group : group_dirs()) {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(group, ec)) {
            std::string name = entry.path().filename().string();
            if (name.rfind(prefix, 0) != 0 || keep(name.substr(prefix.size()))) continue;
            if (::rmdir(entry.path().c_str()) == 0) ++removed;
        }
    }
    return removed;
}

void remove_daemon_cgroups(const std::string& data_dir, const std::string& root) {
    std::error_code ec;
    std::string dir = std::filesystem::weakly_canonical(data_dir, ec).string();
    auto cgroups = VmmCgroups::setup(root, read_file("/proc/self/cgroup").value_or(""), daemon_group(ec ? data_dir : dir));
    if (!cgroups) return;
    for (int attempt = 0; attempt < 20; ++attempt) {
        cgroups->sweep([](const std::string&) { return false; });
        cgroups->remove_group();
        if (!std::filesystem::exists(cgroups->group_dirs().front(), ec)) return;
        ::usleep(50'000);
    }
}

} // namespace brood::manager
