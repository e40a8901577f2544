// Assembles a Machine. Both recipes use it: build_for_boot (boot.cpp) sets
// the vCPUs up for a kernel's entry, build_from_snapshot (restore.cpp)
// restores every component from a state file.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "common/result.hpp"
#include "vmm/machine.hpp"

namespace brood {

class MachineBuilder final {
public:
    // Creates the VM, registers memory (before the irqchip: KVM is slow to
    // add slots afterwards), creates the irqchip, PIT and vCPUs.
    static Result<MachineBuilder> create(kvm::Kvm kvm, GuestMemory memory, uint32_t vcpu_count,
                                         std::shared_ptr<Console> console);

    // For the recipe, until build(): the vCPUs to set up.
    kvm::Kvm& kvm() { return _machine->_kvm; }
    std::vector<kvm::Vcpu>& vcpus() { return _machine->_vcpus; }
    MachineBuilder& boot_description(std::string description);
    // Block devices, in virtio-mmio slot order.
    MachineBuilder& disks(std::vector<std::unique_ptr<virtio::BlockBackend>> disks);
    // A vsock device, in the virtio-mmio slot after the disks.
    MachineBuilder& vsock(std::unique_ptr<virtio::VsockDevice> device);
    // A network device, in the slot after the vsock device (or the disks).
    MachineBuilder& net(std::unique_ptr<virtio::Net> device);

    // Adds the devices, lists every component for snapshots, and hands over
    // the machine; the builder is empty afterwards.
    Result<std::unique_ptr<Machine>> build();

private:
    explicit MachineBuilder(std::unique_ptr<Machine> machine) : _machine(std::move(machine)) {}
    std::unique_ptr<Machine> _machine;
};

} // namespace brood
