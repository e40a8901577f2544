// Renames a snapshot's two complete temporary files over the state and
// memory paths given by the caller (which may be in different directories).
#pragma once

#include <functional>
#include <string>

#include "common/result.hpp"

namespace brood::snapshot {

struct FilePair {
    std::string state;
    std::string memory;
};

// Memory first, then state. If the state's rename fails, the new memory
// file goes back to `from.memory` and the old one (kept as a hard link until
// then) to its place, so a failure leaves both pairs as they were. Two renames cannot be one atomic step across a crash:
// callers that need that write a snapshot directory instead (dir_swap.hpp).
// `between`, for tests, runs between the two renames; its error fails there.
[[nodiscard]] Result<void> rename_pair(const FilePair& from, const FilePair& to,
                                       const std::function<Result<void>()>& between = {});

} // namespace brood::snapshot
