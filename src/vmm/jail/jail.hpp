// The box brood-vmm puts itself in (--jail), in two steps.
//
// enter_namespaces(), first thing, while the process has one thread: the
// cgroups broodd made for it (--jail-cgroup), then its own mount, IPC and
// UTS namespaces (mounts made private, so nothing it mounts
// or unmounts reaches the host).
//
// lock_down(), once the machine is built (every file, /dev/kvm and the TAP
// are open, the sockets bound) and before the vCPU threads start: --jail-dir
// becomes the root of its mount namespace (pivot_root; the host's root is
// detached) and its working directory; the capability bounding set emptied; with --jail-uid/--jail-gid, no
// supplementary groups and that uid and gid for every thread, which leaves
// no capabilities; else every capability dropped from the thread that goes
// on to make the vCPU and API threads; no_new_privs; and a seccomp filter
// for every thread (seccomp_policy.hpp) whose default is to kill the
// process. Each vCPU thread then adds its own, narrower filter
// (lock_down_vcpu_thread()).
//
// docs/security.md says what each layer stops and what it does not.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace brood::jail {

struct JailConfig {
    bool enabled = false;
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    // The instance directory: the VMM works in it from enter_namespaces()
    // on, and after lock_down() it is the VMM's whole file system: what it
    // writes then (snapshots, rotated logs, vsock connections) it reaches
    // by paths relative to it.
    std::string dir;
    // The files of the cgroups it joins first, by writing "0" into each
    // while it has one thread (their limits hold from then on): v1's
    // `tasks` (that thread, which then makes every other) or cgroup.procs.
    std::vector<std::string> cgroups;
};

// Checks the combination: a uid, gid, directory or cgroup needs --jail, a
// uid and a gid go together, and neither may be 0.
Result<void> check(const JailConfig& config);

Result<void> enter_namespaces(const JailConfig& config);
// `path` relative to config.dir when it lies inside it; else `path`.
std::string local_path(const JailConfig& config, const std::string& path);
Result<void> lock_down(const JailConfig& config);
Result<void> lock_down_vcpu_thread();

} // namespace brood::jail
