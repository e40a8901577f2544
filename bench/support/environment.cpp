#include "support/environment.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <filesystem>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "common/unique_fd.hpp"
#include "support/report.hpp"

namespace brood::bench {
namespace {

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

} // namespace

std::string vmm_path() { return env_or("BROOD_VMM", BROOD_VMM_DEFAULT); }
std::string test_guest_path() { return env_or("BROOD_TEST_GUEST", BROOD_TEST_GUEST_DEFAULT); }
bool have_kvm() { return ::access("/dev/kvm", R_OK | W_OK) == 0; }

std::optional<std::string> find_qemu() {
    std::string name = env_or("BROOD_QEMU", "qemu-system-x86_64");
    if (name.find('/') != std::string::npos) return executable(name) ? std::optional(name) : std::nullopt;
    std::stringstream path(env_or("PATH", "/usr/bin:/bin"));
    for (std::string dir; std::getline(path, dir, ':');) {
        std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
        if (executable(candidate)) return candidate;
    }
    return std::nullopt;
}

bool ready_to_run(const char* bench) {
    if (!have_kvm()) {
        note("{}: skipped: /dev/kvm is missing or not usable by this user", bench);
        return false;
    }
    for (const auto& path : {vmm_path(), test_guest_path()}) {
        if (::access(path.c_str(), R_OK) != 0) {
            note("{}: skipped: {} is missing (build it first: make build)", bench, path);
            return false;
        }
    }
    return true;
}

Result<ScratchDir> ScratchDir::create(const std::string& tag) {
    std::string base = env_or("TMPDIR", "/tmp");
    std::string tmpl = fmt::format("{}/brood-bench-{}-XXXXXX", base, tag);
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) return fail_errno(fmt::format("mkdtemp {}", tmpl));
    return ScratchDir(buf.data());
}

ScratchDir::~ScratchDir() {
    if (_path.empty()) return;
    if (std::getenv("BROOD_BENCH_KEEP")) {
        note("kept {}", _path);
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(_path, ec);
}

Result<FileSize> file_size(const std::string& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) < 0) return fail(Error::from_errno(fmt::format("stat {}", path)));
    return FileSize{static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(st.st_blocks) * 512};
}

Result<void> fsync_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) < 0) return fail(Error::from_errno(fmt::format("fsync {}", path)));
    return {};
}

void note_host_load(const char* bench) {
    std::ifstream in("/proc/loadavg");
    double one = 0, five = 0, fifteen = 0;
    in >> one >> five >> fifteen;
    note("{}: host load {:.2f} {:.2f} {:.2f} ({} CPUs)", bench, one, five, fifteen, ::sysconf(_SC_NPROCESSORS_ONLN));
}

} // namespace brood::bench
