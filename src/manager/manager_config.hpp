// How broodd's core is set up: its data directory, the VMM it runs, the
// timeouts and limits of its operations, and the test hooks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "manager/admission.hpp"
#include "manager/fork_steps.hpp"
#include "manager/pending_op.hpp"
#include "manager/vmm_steps.hpp"

namespace brood::manager {

struct ManagerConfig {
    std::string data_dir = "/var/lib/brood";
    std::string vmm_binary;
    // Where kernels, initrds and disk images may come from (image_dirs.hpp);
    // empty: <data_dir>/images, made if missing.
    std::vector<std::string> images_dirs;
    int ready_timeout_ms = 30'000;
    int default_stop_timeout_ms = 5'000;
    int snapshot_timeout_ms = 120'000;
    int lock_timeout_ms = 300'000;
    Backend restore_backend = Backend::file;
    uint32_t max_memory_mib = 65'536;
    uint32_t max_vcpus = 64;
    // Template forks made at once by one fan-out request (unless it asks
    // for another number).
    int fork_concurrency = 4;
    // The guest agent: how long to try to reach it, and how long a file
    // transfer or a fork's identity call may take once reached.
    int agent_connect_timeout_ms = 3'000;
    int agent_answer_timeout_ms = 30'000;
    // Instance networking (docs/networking.md): the bridge broodd manages,
    // which gets the subnet's first address, and the subnet instances'
    // addresses come from.
    std::string bridge = "brood0";
    std::string subnet = "172.30.0.0/24";
    // The box each VMM runs in (brood-vmm --jail; docs/security.md): on, and
    // with vmm_uid_base set, instance n's VMM runs as uid and gid
    // vmm_uid_base + its vsock CID once its machine is built.
    bool vmm_jail = false;
    uint32_t vmm_uid_base = 0;
    // A cgroup for each boxed VMM with memory and pids limits
    // (vmm_cgroup.hpp); without a usable cgroup file system the daemon
    // says so and starts VMMs without limits, or, when they are required,
    // does not open.
    bool vmm_cgroups = false;
    bool vmm_cgroups_required = false;
    std::string cgroup_root = "/sys/fs/cgroup";
    // Instances and guest memory the daemon takes on (admission.hpp); a
    // budget of 0 is MemTotal minus a reserve.
    AdmissionLimits admission;
    // Tests only: fails chosen steps of a fork (fork_steps.hpp).
    ForkFaultHook fork_fault;
    // Tests only: called at the steps where a VMM may die (vmm_steps.hpp).
    VmmFaultHook vmm_fault;
};

} // namespace brood::manager
