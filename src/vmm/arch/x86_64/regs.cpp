#include "vmm/arch/x86_64/regs.hpp"

#include <cstring>

#include "vmm/arch/x86_64/gdt.hpp"
#include "vmm/arch/x86_64/layout.hpp"

namespace brood::x86 {

namespace {

SpecialRegs common_sregs() {
    SpecialRegs s;
    s.gdt = boot_gdt_table();
    s.idt = {0, 0}; // no IDT: interrupts stay off until the guest loads its own
    s.tr = tss_segment();
    s.ldt = unusable_ldt_segment();
    s.ds = s.es = s.fs = s.gs = s.ss = data_segment();
    // KVM_SET_SREGS applies apic_base too: keep the LAPIC enabled, as the BSP.
    s.apic_base = kLapicAddr | kApicBaseEnable | kApicBaseBsp;
    return s;
}

void set_lvt_delivery_mode(std::span<uint8_t, 1024> regs, size_t offset, uint32_t mode) {
    uint32_t value;
    std::memcpy(&value, regs.data() + offset, sizeof(value));
    value = (value & ~kLvtDeliveryModeMask) | mode;
    std::memcpy(regs.data() + offset, &value, sizeof(value));
}

} // namespace

BootCpuState linux64_boot_state(uint64_t entry, uint64_t zero_page) {
    BootCpuState state;
    state.sregs = common_sregs();
    state.sregs.cs = code64_segment();
    state.sregs.cr0 = kCr0Pe | kCr0Et | kCr0Ne | kCr0Pg;
    state.sregs.cr3 = kPml4Addr;
    state.sregs.cr4 = kCr4Pae;
    state.sregs.efer = kEferLme | kEferLma;
    state.regs.rip = entry;
    state.regs.rsi = zero_page;
    state.regs.rsp = kBootStackPointer;
    state.regs.rbp = kBootStackPointer;
    state.regs.rflags = 0x2;
    return state;
}

BootCpuState pvh_boot_state(uint32_t entry32, uint32_t start_info) {
    BootCpuState state;
    state.sregs = common_sregs();
    state.sregs.cs = code32_segment();
    state.sregs.cr0 = kCr0Pe | kCr0Et;
    state.regs.rip = entry32;
    state.regs.rbx = start_info;
    state.regs.rflags = 0x2;
    return state;
}

void configure_lapic_lints(std::span<uint8_t, 1024> lapic_regs) {
    set_lvt_delivery_mode(lapic_regs, kLapicLvtLint0, kLvtDeliveryExtInt);
    set_lvt_delivery_mode(lapic_regs, kLapicLvtLint1, kLvtDeliveryNmi);
}

} // namespace brood::x86
