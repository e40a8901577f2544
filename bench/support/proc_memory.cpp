#include "support/proc_memory.hpp"

#include <cctype>
#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

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

} // namespace brood::bench
