// Everything needed to resume a VM, as plain data, and its encoding into
// state-file sections.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "vmm/arch/x86_64/cpu_state.hpp"
#include "vmm/devices/i8042.hpp"
#include "vmm/devices/serial.hpp"
#include "vmm/kvm/vcpu.hpp"
#include "vmm/kvm/vm.hpp"

namespace brood::snapshot {

struct MachineConfig {
    uint64_t memory_bytes = 0;
    uint32_t vcpus = 0;
    std::string boot_description; // JSON: kernel, initrd, cmdline of the original boot
};

struct VcpuSnapshot {
    x86::CpuidTable cpuid;
    kvm::VcpuState state;
};

struct MachineSnapshot {
    MachineConfig config;
    kvm::VmState vm;
    std::vector<VcpuSnapshot> vcpus;
    devices::SerialState serial;
    devices::I8042State i8042;
};

std::vector<uint8_t> encode_snapshot(const MachineSnapshot& snapshot);
Result<MachineSnapshot> decode_snapshot(std::span<const uint8_t> state_file);

} // namespace brood::snapshot
