// Crash-safe small files: a reader sees the old or the new content, never a mix.
#pragma once

#include <string>
#include <string_view>

#include "common/result.hpp"

namespace brood::manager {

// Writes `path.tmp-<random>`, fsyncs it, renames it over `path`, fsyncs the directory.
[[nodiscard]] Result<void> write_file_atomic(const std::string& path, std::string_view content, int mode = 0644);
[[nodiscard]] Result<std::string> read_file(const std::string& path);
[[nodiscard]] Result<void> fsync_dir(const std::string& dir);
// rename() then fsync of the parent directory of `to`.
[[nodiscard]] Result<void> rename_durable(const std::string& from, const std::string& to);

} // namespace brood::manager
