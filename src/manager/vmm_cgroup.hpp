// A cgroup for each boxed VMM, with a memory and a pids limit, made below
// broodd's own cgroup on cgroup v2, or in the memory and pids hierarchies
// of cgroup v1 (docs/security.md, "Resource limits").
#pragma once

#include <cstdint>
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

class VmmCgroups final {
public:
    // Where broodd makes its VMMs' cgroups. `root` is the cgroup file
    // system (/sys/fs/cgroup); `self` the text of /proc/self/cgroup, which
    // names broodd's own cgroups. v2 when `root` is a unified hierarchy
    // offering the memory and pids controllers: they are enabled for the
    // children of broodd's cgroup, into a leaf of its own that broodd moves
    // into first if it must. Else v1, with the memory and pids hierarchies
    // mounted under `root`. The error says why neither can be used.
    static Result<VmmCgroups> setup(const std::string& root, const std::string& self);

    // Makes (or reuses) the instance's cgroups with `limits`; answers the
    // cgroup.procs files the VMM must join.
    Result<std::vector<std::string>> prepare(const std::string& instance_id, const CgroupLimits& limits) const;
    // Removes the instance's cgroups; one that still holds a process stays.
    void remove(const std::string& instance_id) const;
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
