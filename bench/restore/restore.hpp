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

// Starts `config.density_vms` VMs from one snapshot, all at once, per
// backend (and QEMU when `qemu_file` is set); reports their PSS.
Result<void> density(const BroodSnapshot& snapshot, const std::optional<std::string>& qemu_file,
                     const VmShape& shape, const RestoreConfig& config, const ScratchDir& scratch, Reporter& out);

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

} // namespace brood::bench
