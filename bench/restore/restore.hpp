// bench_restore's parts: snapshot and restore latency for brood-vmm (copy
// and file backends) and QEMU (migration to a file), and the density of
// many VMs restored from one snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "support/child.hpp"
#include "support/environment.hpp"
#include "support/qmp.hpp"
#include "support/report.hpp"
#include "support/subjects.hpp"

namespace brood::bench {

struct RestoreConfig {
    std::vector<uint64_t> sizes_mib{128, 512, 2048};
    uint64_t touch_mib = 64;
    unsigned snapshots = 7;    // snapshots taken of each source VM
    unsigned runs = 10;        // restores per subject and size
    unsigned density_vms = 10; // VMs restored at once
    uint64_t density_memory_mib = 512;
    std::optional<std::string> qemu;
    Millis timeout{60'000};
};

// The parameters every line about one guest size carries.
nlohmann::json size_params(const VmShape& shape, const RestoreConfig& config);

struct BroodSnapshot {
    std::string state_path;
    std::string memory_path;
};

// Boots a brood-vmm source VM of `shape`, touches memory and snapshots it
// `config.snapshots` times; reports times and sizes; returns the last snapshot.
Result<BroodSnapshot> brood_snapshots(const VmShape& shape, const RestoreConfig& config, const ScratchDir& scratch,
                                      Reporter& out);
// Restores `snapshot` `config.runs` times per backend (copy, file), timing
// process start to "pong".
Result<void> brood_restores(const BroodSnapshot& snapshot, const VmShape& shape, const RestoreConfig& config,
                            const ScratchDir& scratch, Reporter& out);

// The same for QEMU: migration to `exec:cat > FILE`, and `-incoming` from it.
Result<std::string> qemu_snapshots(const VmShape& shape, const RestoreConfig& config, const ScratchDir& scratch,
                                   Reporter& out);
Result<void> qemu_restores(const std::string& migration_file, const VmShape& shape, const RestoreConfig& config,
                           const ScratchDir& scratch, Reporter& out);

// QEMU in its best cloning configuration: a source whose RAM is a shared
// memory file, saved once with x-ignore-shared (device state only; the
// source stays stopped for good); clones map the file privately.
struct QemuTemplate {
    std::string memory_path; // the shared memory file
    std::string state_path;  // the device-state stream
};
Result<QemuTemplate> qemu_template_snapshot(const VmShape& shape, const RestoreConfig& config,
                                            const ScratchDir& scratch, Reporter& out);
Result<void> qemu_clone_restores(const QemuTemplate& tpl, const VmShape& shape, const RestoreConfig& config,
                                 const ScratchDir& scratch, Reporter& out);

// What density() starts VMs from.
struct DensitySources {
    BroodSnapshot brood;
    std::optional<std::string> qemu_migration;
    std::optional<QemuTemplate> qemu_template;
};
// Starts `config.density_vms` VMs from one snapshot, all at once, per
// backend (and for each QEMU configuration given); reports what they cost
// the host (support/proc_memory.hpp: Pss plus page cache, each page once).
Result<void> density(const DensitySources& sources, const VmShape& shape, const RestoreConfig& config,
                     const ScratchDir& scratch, Reporter& out);

// --- pieces shared by the parts above ---

// Spawns brood-vmm restoring `snapshot` with `backend` (serial on stdio,
// ready fd 3, control socket in `scratch`); the caller waits for it.
Result<Child> spawn_brood_restore(const BroodSnapshot& snapshot, const std::string& backend,
                                  const ScratchDir& scratch, const std::string& tag);

// A QEMU that takes its state from a migration file, started with -S.
struct QemuVm {
    Child child;
    std::string qmp_path;
    std::optional<Qmp> qmp;
};
Result<QemuVm> spawn_qemu_restore(const std::string& migration_file, const VmShape& shape,
                                  const std::string& qemu, const ScratchDir& scratch, const std::string& tag);
// Connects QMP, sends `cont` and waits for the RESUME event; when it came.
Result<Clock::time_point> qemu_resume(QemuVm& vm, Clock::time_point deadline);

// Spawns a clone of `tpl` (-incoming defer); the caller resumes it.
Result<QemuVm> spawn_qemu_clone(const QemuTemplate& tpl, const VmShape& shape, const std::string& qemu,
                                const ScratchDir& scratch, const std::string& tag);
// Loads the device state into a clone and runs it; when its vCPUs ran.
Result<Clock::time_point> qemu_clone_resume(QemuVm& vm, const QemuTemplate& tpl, Clock::time_point deadline);

} // namespace brood::bench
