// A cgroup for each boxed VMM, with a memory and a pids limit, made below
// broodd's own cgroup on cgroup v2, or in the memory and pids hierarchies
// of cgroup v1 (docs/security.md, "Resource limits").
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace brood::manager {

struct CgroupLimits {
    uint64_t memory_bytes = 0;
    uint64_t pids = 0;
};

// A VMM whose guest has `memory_mib` and `vcpus`: the guest's memory plus
// the VMM's own (its code, device buffers, the page cache of snapshots it
// writes); its threads (a vCPU thread each, the API, serial and vsock
// threads) plus room.
CgroupLimits vmm_limits(uint32_t memory_mib, uint32_t vcpus);

// "brood-" and a hash of the data directory: the same on every start.
std::string daemon_group(const std::string& data_dir);

// Removes every cgroup the daemon of `data_dir` made, once its VMMs are
// killed (tests and benchmarks, whose daemons do not start again to sweep
// them); waits up to a second for VMMs still exiting.
void remove_daemon_cgroups(const std::string& data_dir, const std::string& root = "/sys/fs/cgroup");

class VmmCgroups final {
public:
    // Where broodd makes its VMMs' cgroups: in a cgroup `group` of this
    // daemon's (daemon_group()), so that daemons of other data directories
    // never touch them. `root` is the cgroup file system (/sys/fs/cgroup);
    // `self` the text of /proc/self/cgroup, which names broodd's own
    // cgroups. v2 when `root` is a unified hierarchy offering the memory
    // and pids controllers: `group` is a child of broodd's cgroup, or a
    // sibling when broodd is in a leaf named broodd (systemd's
    // DelegateSubgroup=broodd), and the controllers are enabled down to the
    // VMMs' cgroups. Else v1, with the memory and pids hierarchies mounted
    // under `root`. The error says why neither can be used.
    static Result<VmmCgroups> setup(const std::string& root, const std::string& self, const std::string& group);

    // Makes (or reuses) the instance's cgroups with `limits`; answers the
    // files the VMM, while it has one thread, writes "0" into to join them:
    // v1's `tasks`, v2's `cgroup.procs`.
    Result<std::vector<std::string>> prepare(const std::string& instance_id, const CgroupLimits& limits) const;
    // Removes the instance's cgroups; one that still holds a process stays.
    void remove(const std::string& instance_id) const;
    // At daemon start: removes the VMM cgroups of instances not to `keep`
    // (gone, or without a live VMM); how many went.
    int sweep(const std::function<bool(const std::string& instance_id)>& keep) const;
    // The daemon's group, once no VMM cgroup is left in it (at daemon exit;
    // a group that still has some stays).
    void remove_group() const;
    // The daemon's group: one directory on v2, one per hierarchy on v1.
    std::vector<std::string> group_dirs() const;
    // The instance's cgroup directories: one on v2, two on v1.
    std::vector<std::string> dirs_of(const std::string& instance_id) const;
    bool v2() const { return _v2; }

private:
    VmmCgroups(bool v2, std::string memory_parent, std::string pids_parent)
        : _v2(v2), _memory_parent(std::move(memory_parent)), _pids_parent(std::move(pids_parent)) {}
    bool _v2;
    std::string _memory_parent;
    std::string _pids_parent; // the same directory as _memory_parent on v2
};

} // namespace brood::manager
