// What a bench runs and where: binaries, /dev/kvm, QEMU, scratch space.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"

namespace brood::bench {

// BROOD_VMM / BROOD_TEST_GUEST override the paths from the build.
std::string vmm_path();
std::string test_guest_path();
// qemu-system-x86_64 from BROOD_QEMU or PATH; nullopt when there is none.
std::optional<std::string> find_qemu();
bool have_kvm();

// Checks the common preconditions; returns false (after saying why on
// stderr) when the bench must skip.
bool ready_to_run(const char* bench);

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it
// when this goes away (unless BROOD_BENCH_KEEP is set).
class ScratchDir final {
public:
    static Result<ScratchDir> create(const std::string& tag);
    ScratchDir(ScratchDir&& o) noexcept : _path(std::move(o._path)) { o._path.clear(); }
    ScratchDir& operator=(ScratchDir&&) = delete;
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    ~ScratchDir();
    const std::string& path() const { return _path; }
    std::string operator/(const std::string& name) const { return _path + "/" + name; }

private:
    explicit ScratchDir(std::string path) : _path(std::move(path)) {}
    std::string _path;
};

struct FileSize {
    uint64_t apparent = 0;  // st_size
    uint64_t allocated = 0; // st_blocks * 512: what the disk holds
};
Result<FileSize> file_size(const std::string& path);
Result<void> fsync_file(const std::string& path);

// "bench: host load 1.23 0.98 0.75 (2 CPUs)" on stderr: the benches share
// the host, and a busy host shows in every figure.
void note_host_load(const char* bench);

} // namespace brood::bench
