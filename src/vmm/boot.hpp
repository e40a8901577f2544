// The boot recipe: a Machine with a kernel loaded and vCPUs at its entry.
#pragma once

#include <memory>

#include "common/result.hpp"
#include "vmm/console.hpp"
#include "vmm/disk_config.hpp"
#include "vmm/machine_builder.hpp"
#include "vmm/vm_config.hpp"

namespace brood {

// Errors that are the caller's fault (bad kernel, memory size...) are
// distinguished so main() can exit with ExitCode::bad_input.
struct BuildError {
    Error error;
    bool bad_input = false;
};

// Disks become virtio-blk devices, declared on the kernel command line.
tl::expected<std::unique_ptr<Machine>, BuildError> build_for_boot(const BootSource& source,
                                                                  const MachineShape& shape,
                                                                  const std::vector<DiskConfig>& disks,
                                                                  std::shared_ptr<Console> console);

// The vsock device the options ask for (listening on its socket), or none.
// On restore the CID may be left out (0): the snapshot's is kept.
Result<std::unique_ptr<virtio::VsockDevice>> open_vsock(const std::optional<VsockOptions>& options, bool restore);

// Host memory limit check shared by both recipes.
Result<void> check_memory_size(uint64_t memory_mib);

// CPUID, MSRs, FPU and LAPIC set-up every vCPU gets at boot.
Result<void> configure_vcpus_for_boot(const kvm::Kvm& kvm, std::vector<kvm::Vcpu>& vcpus);

} // namespace brood
