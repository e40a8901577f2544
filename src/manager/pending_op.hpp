// Names kept in an instance's record: the operation that began and has not
// committed yet, and the memory backend of its last restore. The on-disk
// strings are fixed ("start", ..., "delete"; "file", "copy"); code uses the enums.
#pragma once

#include <optional>
#include <string_view>

namespace brood::manager {

// The daemon finishes or rolls back a pending operation on restart (reconcile.cpp).
enum class PendingOp { none, start, stop, standby, restore, remove };

// "" for none; "delete" for remove.
std::string_view to_string(PendingOp op);
// Unknown names read as none: nothing the daemon could finish.
PendingOp pending_op_from_string(std::string_view text);

// How a restored VM maps its memory: the snapshot's file privately (file),
// or a copy of it (copy).
enum class Backend { file, copy };

std::string_view to_string(Backend backend);
std::optional<Backend> backend_from_string(std::string_view text);

} // namespace brood::manager
