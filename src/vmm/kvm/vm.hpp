// One KVM virtual machine: memory slots, the in-kernel irqchip and PIT,
// interrupt lines, and the VM-wide state a snapshot needs.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/kvm/kvm.hpp"
#include "vmm/snapshot/persist.hpp"

namespace brood::kvm {

// VM-wide device state as KVM's own structs, kept as opaque bytes.
struct VmState {
    std::vector<uint8_t> pic_master, pic_slave, ioapic; // kvm_irqchip
    std::vector<uint8_t> pit;                           // kvm_pit_state2
    std::vector<uint8_t> clock;                         // kvm_clock_data
};

// The vm section of a snapshot: irqchip, PIT and clock.
struct VmStateCodec {
    using State = VmState;
    static constexpr snapshot::SectionKind kind{2, 1, "vm"};
    static void encode(const State& s, snapshot::ByteWriter& w);
    static Result<State> decode(snapshot::ByteReader& r, uint32_t version);
};

class Vm final {
public:
    static Result<Vm> create(const Kvm& kvm);

    int fd() const { return _fd.get(); }

    // Register guest RAM. Do this before create_irqchip(): afterwards KVM
    // takes milliseconds per slot on some hosts.
    Result<void> set_memory_region(uint32_t slot, uint64_t guest_addr, uint64_t size, void* host);
    // TSS/identity-map addresses, in-kernel PIC+IOAPIC+LAPIC and PIT2.
    Result<void> create_irqchip();
    Result<void> set_irq_line(uint32_t irq, bool level);
    // Signalling `eventfd` raises an edge on `gsi` inside KVM (KVM_IRQFD).
    Result<void> add_irqfd(int eventfd, uint32_t gsi);
    // A guest write of `value` (4 bytes) to `address` signals `eventfd`
    // inside KVM instead of exiting to the VMM (KVM_IOEVENTFD).
    Result<void> add_mmio_ioeventfd(int eventfd, uint64_t address, uint32_t value);

    Result<VmState> save() const;
    // Restores the irqchip and the PIT; keeps the clock for restore_clock().
    Result<void> restore(const VmState& state);
    // Sets the clock restore() kept, or `now_ns` when given, once every
    // vCPU's TSC is restored (docs/snapshot-format.md, "Clock").
    Result<void> restore_clock(std::optional<uint64_t> now_ns);

private:
    explicit Vm(UniqueFd fd) : _fd(std::move(fd)) {}
    UniqueFd _fd;
    std::optional<uint64_t> _pending_clock_ns; // restore() to restore_clock()
};

} // namespace brood::kvm
