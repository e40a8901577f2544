// A log file with a size cap. When a write would pass the cap, the file
// becomes PATH.1 (replacing the older one) and PATH starts again, empty: a
// guest that never stops printing holds at most twice the cap on disk.
// Rotation works on the file's directory through a descriptor opened with
// the log, so it needs no access to the directories above it (a boxed VMM
// that dropped its uid still rotates).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace brood {

class RotatingLog final {
public:
    static constexpr uint64_t kDefaultCap = 16ULL << 20;

    // Appends to PATH (created 0640 when missing).
    static Result<RotatingLog> open(std::string path, uint64_t cap = kDefaultCap);

    // Best effort: guest output never fails the machine, so errors are dropped.
    void write(std::span<const uint8_t> bytes);
    const std::string& path() const { return _path; }

private:
    RotatingLog(std::string path, UniqueFd dir, std::string name, uint64_t cap, UniqueFd fd, uint64_t size)
        : _path(std::move(path)), _dir(std::move(dir)), _name(std::move(name)), _cap(cap), _fd(std::move(fd)),
          _size(size) {}
    void rotate();

    std::string _path;
    UniqueFd _dir;     // the directory PATH is in
    std::string _name; // PATH's last component
    uint64_t _cap;
    UniqueFd _fd;
    uint64_t _size;
};

} // namespace brood
