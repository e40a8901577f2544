// Conversions between the plain x86 structs and KVM's. Private to src/vmm/kvm.
#pragma once

#include <linux/kvm.h>

#include "vmm/arch/x86_64/cpu_state.hpp"

namespace brood::kvm {

inline kvm_segment to_kvm_segment(const x86::Segment& s) {
    kvm_segment k{};
    k.base = s.base;
    k.limit = s.limit;
    k.selector = s.selector;
    k.type = s.type;
    k.present = s.present;
    k.dpl = s.dpl;
    k.db = s.db;
    k.s = s.s;
    k.l = s.l;
    k.g = s.g;
    k.avl = s.avl;
    k.unusable = s.unusable;
    return k;
}

inline void apply_special_regs(const x86::SpecialRegs& s, kvm_sregs& k) {
    k.cs = to_kvm_segment(s.cs);
    k.ds = to_kvm_segment(s.ds);
    k.es = to_kvm_segment(s.es);
    k.fs = to_kvm_segment(s.fs);
    k.gs = to_kvm_segment(s.gs);
    k.ss = to_kvm_segment(s.ss);
    k.tr = to_kvm_segment(s.tr);
    k.ldt = to_kvm_segment(s.ldt);
    k.gdt.base = s.gdt.base;
    k.gdt.limit = s.gdt.limit;
    k.idt.base = s.idt.base;
    k.idt.limit = s.idt.limit;
    k.cr0 = s.cr0;
    k.cr2 = s.cr2;
    k.cr3 = s.cr3;
    k.cr4 = s.cr4;
    k.cr8 = s.cr8;
    k.efer = s.efer;
    if (s.apic_base != 0) k.apic_base = s.apic_base;
}

inline kvm_regs to_kvm_regs(const x86::GeneralRegs& r) {
    kvm_regs k{};
    k.rax = r.rax; k.rbx = r.rbx; k.rcx = r.rcx; k.rdx = r.rdx;
    k.rsi = r.rsi; k.rdi = r.rdi; k.rsp = r.rsp; k.rbp = r.rbp;
    k.r8 = r.r8; k.r9 = r.r9; k.r10 = r.r10; k.r11 = r.r11;
    k.r12 = r.r12; k.r13 = r.r13; k.r14 = r.r14; k.r15 = r.r15;
    k.rip = r.rip;
    k.rflags = r.rflags;
    return k;
}

} // namespace brood::kvm
