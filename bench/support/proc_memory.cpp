#include "support/proc_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "common/mapping.hpp"
#include "common/unique_fd.hpp"

namespace brood::bench {
namespace {

constexpr uint64_t kSlackKib = 4096;

// "Rss:   1234 kB" -> 1234 when the line starts with `key`.
std::optional<double> field_kib(const std::string& line, const char* key) {
    std::string prefix = std::string(key) + ":";
    if (line.rfind(prefix, 0) != 0) return std::nullopt;
    return std::stod(line.substr(prefix.size()));
}

// A mapping's header line: "start-end perms offset dev inode [path]".
bool is_header(const std::string& line) {
    size_t dash = line.find('-');
    if (dash == std::string::npos || dash == 0) return false;
    for (size_t i = 0; i < dash; ++i)
        if (!std::isxdigit(static_cast<unsigned char>(line[i]))) return false;
    return line.find(' ') > dash;
}

struct MappingInfo {
    uint64_t size_kib = 0;
    MemoryUsage usage;
};

constexpr double kKibPerMib = 1024.0;
constexpr double kBytesPerMib = 1024.0 * 1024.0;

// A file as smaps names it: device major, minor, inode.
using FileKey = std::tuple<unsigned, unsigned, uint64_t>;

// "start-end perms offset MAJ:MIN inode [path]" -> its file key.
std::optional<FileKey> header_key(const std::string& line) {
    std::istringstream in(line);
    std::string range, perms, offset, dev;
    uint64_t inode = 0;
    if (!(in >> range >> perms >> offset >> dev >> inode) || inode == 0) return std::nullopt;
    size_t colon = dev.find(':');
    if (colon == std::string::npos) return std::nullopt;
    auto major = static_cast<unsigned>(std::stoul(dev.substr(0, colon), nullptr, 16));
    auto minor = static_cast<unsigned>(std::stoul(dev.substr(colon + 1), nullptr, 16));
    return FileKey{major, minor, inode};
}

// Pss of a process (KiB), whole and without the pages of `files` it maps
// (their private copies, `Anonymous`, stay in).
Result<std::pair<double, double>> pss_outside(pid_t pid, const std::set<FileKey>& files) {
    std::string path = fmt::format("/proc/{}/smaps", pid);
    std::ifstream in(path);
    if (!in) return fail(Error::from_errno(fmt::format("open {}", path)));
    double whole = 0, outside = 0;
    bool shared = false, seen = false;
    for (std::string line; std::getline(in, line);) {
        if (is_header(line)) {
            auto key = header_key(line);
            shared = key && files.count(*key) > 0;
            seen = true;
        } else if (auto pss = field_kib(line, "Pss")) {
            whole += *pss;
            if (!shared) outside += *pss;
        } else if (auto anon = field_kib(line, "Anonymous")) {
            if (shared) outside += *anon;
        }
    }
    if (!seen) return fail(fmt::format("{}: no mappings (process gone?)", path));
    return std::pair{whole, outside};
}

} // namespace

Result<MemoryUsage> read_rollup(pid_t pid) {
    std::string path = fmt::format("/proc/{}/smaps_rollup", pid);
    std::ifstream in(path);
    if (!in) return fail(Error::from_errno(fmt::format("open {}", path)));
    MemoryUsage usage;
    bool seen = false;
    for (std::string line; std::getline(in, line);) {
        if (auto v = field_kib(line, "Rss")) usage.rss_kib = *v, seen = true;
        else if (auto p = field_kib(line, "Pss")) usage.pss_kib = *p;
    }
    if (!seen) return fail(fmt::format("{}: no Rss (process gone?)", path));
    return usage;
}

Result<MemoryUsage> read_guest_mapping(pid_t pid, uint64_t guest_bytes) {
    std::string path = fmt::format("/proc/{}/smaps", pid);
    std::ifstream in(path);
    if (!in) return fail(Error::from_errno(fmt::format("open {}", path)));
    std::vector<MappingInfo> maps;
    for (std::string line; std::getline(in, line);) {
        if (is_header(line)) {
            maps.emplace_back();
        } else if (!maps.empty()) {
            if (auto s = field_kib(line, "Size")) maps.back().size_kib = static_cast<uint64_t>(*s);
            else if (auto r = field_kib(line, "Rss")) maps.back().usage.rss_kib = *r;
            else if (auto p = field_kib(line, "Pss")) maps.back().usage.pss_kib = *p;
        }
    }
    uint64_t want = guest_bytes / 1024;
    const MappingInfo* best = nullptr;
    for (const auto& m : maps)
        if (m.size_kib == want && (!best || m.usage.rss_kib > best->usage.rss_kib)) best = &m;
    if (!best) {
        for (const auto& m : maps)
            if (m.size_kib > want && m.size_kib <= want + kSlackKib && (!best || m.size_kib < best->size_kib)) best = &m;
    }
    if (!best) return fail(fmt::format("{}: no mapping of {} KiB (guest RAM)", path, want));
    return best->usage;
}

Result<VmmMemory> read_vmm_memory(pid_t pid, uint64_t guest_bytes) {
    VmmMemory m;
    m.guest = TRY(read_guest_mapping(pid, guest_bytes));
    m.total = TRY(read_rollup(pid));
    return m;
}

Result<uint64_t> page_cache_bytes(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno("open " + path);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) return fail_errno("stat " + path);
    if (st.st_size == 0) return uint64_t{0};
    auto size = static_cast<size_t>(st.st_size);
    auto map = TRY(Mapping::of_file(fd.get(), size, PROT_READ, MAP_SHARED));
    size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    std::vector<unsigned char> resident((size + page - 1) / page);
    if (::mincore(map.data(), size, resident.data()) < 0) return fail_errno("mincore " + path);
    uint64_t pages = 0;
    for (unsigned char r : resident) pages += r & 1;
    return pages * page;
}

Result<HostMemory> read_host_memory(const std::vector<pid_t>& pids, const std::vector<std::string>& shared_files) {
    std::set<FileKey> files;
    HostMemory m;
    for (const auto& file : shared_files) {
        struct stat st {};
        if (file.empty()) continue;
        if (::stat(file.c_str(), &st) < 0) return fail_errno("stat " + file);
        FileKey key{::major(st.st_dev), ::minor(st.st_dev), st.st_ino};
        if (!files.insert(key).second) continue; // counted already
        m.page_cache_mib += static_cast<double>(TRY(page_cache_bytes(file))) / kBytesPerMib;
    }
    for (pid_t pid : pids) {
        auto [whole, outside] = TRY(pss_outside(pid, files));
        m.pss_mib += whole / kKibPerMib;
        m.pss_outside_mib += outside / kKibPerMib;
    }
    return m;
}

} // namespace brood::bench
