// The files of an instance's standby snapshot: staged in
// snapshots/.tmp-<rand>/, then swapped in as snapshots/snapshot-latest/.
#pragma once

#include <string>

#include "common/dir_swap.hpp"
#include "common/result.hpp"
#include "manager/layout.hpp"

namespace brood::manager {

// Creates an empty staging directory and returns its path.
[[nodiscard]] Result<std::string> stage_snapshot_dir(const Layout& layout, const std::string& id);
// fsyncs the staged files and replaces snapshot-latest with them in one
// step (swap_in_dir: the state and memory change as a pair). The old
// snapshot-latest is removed only once the new one is in place and synced;
// a failure before leaves it whole, and a crash leaves a complete
// snapshot-latest or a moved-aside one recover_snapshot_dirs() puts back.
// `fault` is for tests.
[[nodiscard]] Result<void> install_snapshot(const Layout& layout, const std::string& id, const std::string& staged,
                                            const SwapFaultHook& fault = {});
// Removes the instance's snapshot for good: snapshot-latest is renamed to
// snapshots/.deleting-<rand> first (durably), then everything under
// snapshots/ is removed, so a crash leaves the snapshot whole or gone, never
// half-deleted. Nothing to do when there is no snapshots/ directory.
[[nodiscard]] Result<void> drop_snapshot(const Layout& layout, const std::string& id);
// After a crash: drops staging and doomed directories (.tmp-*, .trash-*,
// .deleting-*) and, when snapshot-latest is missing, puts a moved-aside one
// (.old-*) back.
void recover_snapshot_dirs(const Layout& layout, const std::string& id);

} // namespace brood::manager
