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

// Memory first, then state. If the state's rename fails, the old memory
// file (kept as a hard link until then) is put back, so a failure leaves the
// old pair as it was. Two renames cannot be one atomic step across a crash:
// callers that need that write a snapshot directory instead (dir_swap.hpp).
// `between`, for tests, runs between the two renames; its error fails there.
[[nodiscard]] Result<void> rename_pair(const FilePair& from, const FilePair& to,
                                       const std::function<Result<void>()>& between = {});

} // namespace brood::snapshot
