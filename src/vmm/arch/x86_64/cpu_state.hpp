// Plain-data x86-64 vCPU state, independent of <linux/kvm.h>. The arch code
// produces these; the kvm layer converts them to and from KVM's structs.
#pragma once

#include <cstdint>
#include <vector>

namespace brood::x86 {

struct Segment {
    uint64_t base = 0;
    uint32_t limit = 0;
    uint16_t selector = 0;
    uint8_t type = 0;
    uint8_t present = 0, dpl = 0, db = 0, s = 0, l = 0, g = 0, avl = 0;
    uint8_t unusable = 0;
};

struct DescriptorTable {
    uint64_t base = 0;
    uint16_t limit = 0;
};

struct SpecialRegs {
    Segment cs, ds, es, fs, gs, ss, tr, ldt;
    DescriptorTable gdt, idt;
    uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0;
    uint64_t efer = 0;
    uint64_t apic_base = 0;
};

struct GeneralRegs {
    uint64_t rax = 0, rbx = 0, rcx = 0, rdx = 0, rsi = 0, rdi = 0, rsp = 0, rbp = 0;
    uint64_t r8 = 0, r9 = 0, r10 = 0, r11 = 0, r12 = 0, r13 = 0, r14 = 0, r15 = 0;
    uint64_t rip = 0, rflags = 0x2;
};

// Mirrors kvm_cpuid_entry2.
struct CpuidEntry {
    uint32_t function = 0;
    uint32_t index = 0;
    uint32_t flags = 0; // KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};
using CpuidTable = std::vector<CpuidEntry>;

struct MsrEntry {
    uint32_t index = 0;
    uint64_t value = 0;
};

// Where and how the boot vCPU starts.
struct BootCpuState {
    GeneralRegs regs;
    SpecialRegs sregs;
};

} // namespace brood::x86
