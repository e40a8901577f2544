#include "vmm/machine_builder.hpp"

#include <sys/eventfd.h>

#include <fmt/format.h>

#include "vmm/arch/x86_64/msr.hpp"

namespace brood {

Result<MachineBuilder> MachineBuilder::create(kvm::Kvm kvm, GuestMemory memory, uint32_t vcpu_count,
                                              std::shared_ptr<Console> console) {
    uint32_t max = kvm.max_vcpus();
    if (vcpu_count == 0 || vcpu_count > max)
        return fail(fmt::format("vcpus must be between 1 and {} on this host, got {}", max, vcpu_count));
    auto vm = TRY(kvm::Vm::create(kvm));
    uint32_t slot = 0;
    for (const auto& region : memory.layout().regions())
        TRY(vm.set_memory_region(slot++, region.guest_addr, region.size, memory.host_base() + region.host_offset));
    TRY(vm.create_irqchip());

    std::unique_ptr<Machine> m(new Machine(std::move(kvm), std::move(vm), std::move(memory), std::move(console)));
    for (uint32_t i = 0; i < vcpu_count; ++i) m->_vcpus.push_back(TRY(kvm::Vcpu::create(m->_kvm, m->_vm, i)));
    m->_config.memory_bytes = m->_memory.size();
    m->_config.vcpus = vcpu_count;
    m->_exit_event.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!m->_exit_event) return fail_errno("eventfd");
    return MachineBuilder(std::move(m));
}

MachineBuilder& MachineBuilder::disks(std::vector<std::unique_ptr<virtio::BlockBackend>> disks) {
    _machine->_config.disks.clear();
    for (const auto& d : disks) _machine->_config.disks.push_back({d->size(), d->read_only()});
    _machine->_disks = std::move(disks);
    return *this;
}

MachineBuilder& MachineBuilder::vsock(std::unique_ptr<virtio::VsockDevice> device) {
    _machine->_vsock = std::move(device);
    return *this;
}

MachineBuilder& MachineBuilder::net(std::unique_ptr<virtio::Net> device) {
    _machine->_net = std::move(device);
    return *this;
}

MachineBuilder& MachineBuilder::boot_description(std::string description) {
    _machine->_config.boot_description = std::move(description);
    return *this;
}

Result<std::unique_ptr<Machine>> MachineBuilder::build() {
    Machine& m = *_machine;
    // The MSRs a snapshot saves: our list, less those this host's KVM cannot
    // save (its index list omits the MTRRs it emulates; the arch code knows).
    auto msrs = x86::snapshot_msrs_for_host(TRY(m._kvm.msr_index_list()));
    // Restore order: the machine's shape, VM-wide state, vCPUs, devices.
    m._persist.add<MachineConfigCodec>(m._config);
    m._persist.add<kvm::VmStateCodec>(m._vm);
    for (auto& vcpu : m._vcpus) {
        vcpu.set_snapshot_msrs(msrs);
        m._persist.add<kvm::VcpuCodec>(vcpu);
    }
    TRY(m.add_devices());
    return std::move(_machine);
}

} // namespace brood
