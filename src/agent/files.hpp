// File upload and download for the host: whole files, size-capped.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace brood::agent {

// Writes `data` to a temporary file beside `path`, sets `mode`, fsyncs it
// and renames it over `path`: readers see the old file or the new one.
[[nodiscard]] Result<void> write_file_atomic(const std::string& path, std::string_view data, unsigned mode);

// The content of a regular file; EFBIG when it is larger than `max`.
[[nodiscard]] Result<std::string> read_regular_file(const std::string& path, size_t max);

} // namespace brood::agent
