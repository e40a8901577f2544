// QEMU's ways to save a VM and start copies of it, shared by the benches:
// a plain migration to a file, restored with `-incoming "exec:cat FILE"`;
// and its best cloning configuration, VM templating: the source's RAM is a
// shared memory file (memory-backend-file, share=on) and its migration
// stream leaves RAM out (x-ignore-shared); each clone maps the same file
// privately (share=off), takes the small stream with `-incoming defer` and
// `migrate-incoming`, and continues.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "support/child.hpp"
#include "support/clock.hpp"
#include "support/qmp.hpp"

namespace brood::bench::qemu_template {

// `command` plus a QMP socket at `qmp_path`.
std::vector<std::string> with_qmp(std::vector<std::string> command, const std::string& qmp_path);

// `command` (with `-M MACHINE`) with its RAM in `mem_path`: a
// memory-backend-file of `memory_mib`, shared (the template) or private (a clone).
std::vector<std::string> with_memory_file(std::vector<std::string> command, uint64_t memory_mib,
                                          const std::string& mem_path, bool share);

// A clone of the template whose RAM is `mem_path`: private mapping,
// `-incoming defer`, QMP at `qmp_path`.
std::vector<std::string> clone_command(const std::vector<std::string>& command, uint64_t memory_mib,
                                       const std::string& mem_path, const std::string& qmp_path);

// Waits until `pid` has no live child: the `cat` of an exec: migration may
// still be writing when QEMU says "completed".
[[nodiscard]] Result<void> wait_children_gone(pid_t pid, Clock::time_point deadline);

// Waits for the MIGRATION event that says "completed" (the `events`
// capability must be on); fails on "failed" or "cancelled".
[[nodiscard]] Result<void> wait_migration(Qmp& qmp, Clock::time_point deadline);

// The template's save: sets x-ignore-shared (and events), `stop`, migrates
// the device state to `exec:cat > state_file`, waits until the file is
// whole. The VM stays stopped: it must never run again while clones map
// its memory file.
[[nodiscard]] Result<void> save_template(Qmp& qmp, pid_t qemu_pid, const std::string& state_file,
                                         Clock::time_point deadline);

// A clone started by clone_command: sets x-ignore-shared, loads
// `state_file` with migrate-incoming, and runs it (`cont` when the stream
// left it paused); returns once its vCPUs run. `qmp` is left connected.
[[nodiscard]] Result<Qmp> resume_clone(const Child& clone, const std::string& qmp_path, const std::string& state_file,
                                       Clock::time_point deadline);

} // namespace brood::bench::qemu_template
