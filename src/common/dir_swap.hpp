// Replaces a directory with a complete new one in a single step, so that a
// pair of files inside it (a snapshot's state and memory) changes as one
// unit: a reader, or the next start after a crash, sees the old pair or the
// new pair, never one of each.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace brood {

enum class SwapMethod {
    exchange, // renameat2(RENAME_EXCHANGE), falling back to `aside` where the file system lacks it
    aside,    // rename the old directory aside, rename the new one in, remove the old
};

// Tests fail a step on purpose: called before each named step ("swap",
// "aside", "install"); an error fails the swap there.
using SwapFaultHook = std::function<Result<void>(std::string_view step)>;

// fsyncs every regular file directly in `dir`, then `dir` itself.
[[nodiscard]] Result<void> sync_dir_files(const std::string& dir);

// Puts `staged` (complete and synced, in the same parent directory) at
// `target`. The old `target`, if any, stays whole until the new one is in
// place and the parent directory is synced; then it is removed. A failure
// before the new directory is in place leaves (or puts back) the old
// `target` as it was, and `staged` for the caller to remove. After a crash
// during `aside`, the old directory may be left as `.old-<n>` next to
// `target` (with no `target`): put it back.
[[nodiscard]] Result<void> swap_in_dir(const std::string& staged, const std::string& target,
                                       SwapMethod method = SwapMethod::exchange, const SwapFaultHook& fault = {});

} // namespace brood
