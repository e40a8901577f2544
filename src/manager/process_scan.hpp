// Finds brood-vmm processes from /proc, for a daemon that restarts.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>

namespace brood::manager {

// brood-vmm processes whose --control-socket is "<guests_dir>/<id>/control.sock",
// keyed by <id>. Zombies, other users' processes (a boxed VMM's uid counts
// as ours when it owns the instance directory, see process_scan.cpp) and
// programs not named brood-vmm (whatever their command line says) are left out.
std::map<std::string, pid_t> find_vmm_processes(const std::string& guests_dir);

// True when `pid` is a live brood-vmm of ours whose --control-socket is `control_socket`.
bool is_vmm_for(pid_t pid, const std::string& control_socket);

} // namespace brood::manager
