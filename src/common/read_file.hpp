// Small whole-file reads through a close-on-exec descriptor: a daemon that
// spawns processes from other threads must not use std::ifstream, which
// cannot set O_CLOEXEC.
#pragma once

#include <string>

#include "common/result.hpp"

namespace brood {

// The first `max` bytes of the file.
[[nodiscard]] Result<std::string> read_file(const std::string& path, size_t max = 1024 * 1024);
// The last `max` bytes of a regular file.
[[nodiscard]] Result<std::string> read_file_tail(const std::string& path, size_t max);

} // namespace brood
