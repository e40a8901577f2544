#include "vmm/kvm/vm.hpp"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstring>

#include <fmt/format.h>

namespace brood::kvm {
namespace {

constexpr uint64_t kTssAddr = 0xfffb'd000;
constexpr uint64_t kIdentityMapAddr = 0xfffb'c000;

template <typename T>
std::vector<uint8_t> to_bytes(const T& value) {
    std::vector<uint8_t> out(sizeof(T));
    std::memcpy(out.data(), &value, sizeof(T));
    return out;
}

template <typename T>
Result<T> from_bytes(const std::vector<uint8_t>& bytes, const char* what) {
    if (bytes.size() != sizeof(T))
        return fail(fmt::format("{} state is {} bytes, expected {}", what, bytes.size(), sizeof(T)));
    T value;
    std::memcpy(&value, bytes.data(), sizeof(T));
    return value;
}

} // namespace

Result<Vm> Vm::create(const Kvm& kvm) {
    int fd = ::ioctl(kvm.fd(), KVM_CREATE_VM, 0);
    if (fd < 0) return fail_errno("KVM_CREATE_VM");
    return Vm(UniqueFd(fd));
}

Result<void> Vm::set_memory_region(uint32_t slot, uint64_t guest_addr, uint64_t size, void* host) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.guest_phys_addr = guest_addr;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<uint64_t>(host);
    if (::ioctl(_fd.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return fail_errno(fmt::format("KVM_SET_USER_MEMORY_REGION slot {}", slot));
    return {};
}

Result<void> Vm::create_irqchip() {
    if (::ioctl(_fd.get(), KVM_SET_TSS_ADDR, kTssAddr) < 0) return fail_errno("KVM_SET_TSS_ADDR");
    uint64_t identity = kIdentityMapAddr;
    // Only VMX needs it; tolerate hosts that refuse it.
    (void)::ioctl(_fd.get(), KVM_SET_IDENTITY_MAP_ADDR, &identity);
    if (::ioctl(_fd.get(), KVM_CREATE_IRQCHIP, 0) < 0) return fail_errno("KVM_CREATE_IRQCHIP");
    kvm_pit_config pit{};
    pit.flags = KVM_PIT_SPEAKER_DUMMY;
    if (::ioctl(_fd.get(), KVM_CREATE_PIT2, &pit) < 0) return fail_errno("KVM_CREATE_PIT2");
    return {};
}

Result<void> Vm::set_irq_line(uint32_t irq, bool level) {
    kvm_irq_level line{};
    line.irq = irq;
    line.level = level ? 1 : 0;
    if (::ioctl(_fd.get(), KVM_IRQ_LINE, &line) < 0) return fail_errno(fmt::format("KVM_IRQ_LINE {}", irq));
    return {};
}

Result<void> Vm::add_irqfd(int eventfd, uint32_t gsi) {
    kvm_irqfd irqfd{};
    irqfd.fd = static_cast<uint32_t>(eventfd);
    irqfd.gsi = gsi;
    if (::ioctl(_fd.get(), KVM_IRQFD, &irqfd) < 0) return fail_errno(fmt::format("KVM_IRQFD gsi {}", gsi));
    return {};
}

Result<void> Vm::add_mmio_ioeventfd(int eventfd, uint64_t address, uint32_t value) {
    kvm_ioeventfd io{};
    io.datamatch = value;
    io.addr = address;
    io.len = 4;
    io.fd = eventfd;
    io.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
    if (::ioctl(_fd.get(), KVM_IOEVENTFD, &io) < 0)
        return fail_errno(fmt::format("KVM_IOEVENTFD {:#x}={}", address, value));
    return {};
}

Result<VmState> Vm::save() const {
    VmState state;
    for (uint32_t chip_id : {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE, KVM_IRQCHIP_IOAPIC}) {
        kvm_irqchip chip{};
        chip.chip_id = chip_id;
        if (::ioctl(_fd.get(), KVM_GET_IRQCHIP, &chip) < 0)
            return fail_errno(fmt::format("KVM_GET_IRQCHIP {}", chip_id));
        auto bytes = to_bytes(chip);
        if (chip_id == KVM_IRQCHIP_PIC_MASTER) state.pic_master = std::move(bytes);
        else if (chip_id == KVM_IRQCHIP_PIC_SLAVE) state.pic_slave = std::move(bytes);
        else state.ioapic = std::move(bytes);
    }
    kvm_pit_state2 pit{};
    if (::ioctl(_fd.get(), KVM_GET_PIT2, &pit) < 0) return fail_errno("KVM_GET_PIT2");
    state.pit = to_bytes(pit);
    kvm_clock_data clock{};
    if (::ioctl(_fd.get(), KVM_GET_CLOCK, &clock) < 0) return fail_errno("KVM_GET_CLOCK");
    state.clock = to_bytes(clock);
    return state;
}

Result<void> Vm::restore(const VmState& state) {
    for (const auto* bytes : {&state.pic_master, &state.pic_slave, &state.ioapic}) {
        auto chip = TRY(from_bytes<kvm_irqchip>(*bytes, "irqchip"));
        if (::ioctl(_fd.get(), KVM_SET_IRQCHIP, &chip) < 0)
            return fail_errno(fmt::format("KVM_SET_IRQCHIP {}", chip.chip_id));
    }
    auto pit = TRY(from_bytes<kvm_pit_state2>(state.pit, "PIT"));
    if (::ioctl(_fd.get(), KVM_SET_PIT2, &pit) < 0) return fail_errno("KVM_SET_PIT2");
    _pending_clock_ns = TRY(from_bytes<kvm_clock_data>(state.clock, "clock")).clock;
    return {};
}

Result<void> Vm::restore_clock(std::optional<uint64_t> now_ns) {
    if (!_pending_clock_ns) return {};
    kvm_clock_data clock{}; // flags 0: only the clock value is set
    clock.clock = now_ns.value_or(*_pending_clock_ns);
    _pending_clock_ns.reset();
    if (::ioctl(_fd.get(), KVM_SET_CLOCK, &clock) < 0) return fail_errno("KVM_SET_CLOCK");
    return {};
}

void VmStateCodec::encode(const State& s, snapshot::ByteWriter& w) {
    for (const auto* blob : {&s.pic_master, &s.pic_slave, &s.ioapic, &s.pit, &s.clock}) w.blob(*blob);
}

Result<VmState> VmStateCodec::decode(snapshot::ByteReader& r, uint32_t) {
    VmState s;
    for (auto* blob : {&s.pic_master, &s.pic_slave, &s.ioapic, &s.pit, &s.clock}) *blob = TRY(r.blob());
    return s;
}

} // namespace brood::kvm
