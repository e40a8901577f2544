/*
 * PVH entry and the switch to long mode, shared by the BSP and the APs.
 *
 * Every instruction a guest runs at CPL0 may be emulated (docs/development-hosts.md), so
 * nothing here loops: the GDT and the identity-mapped page tables for the
 * first 4 GiB are built by the assembler, and the entry path is straight-line.
 */
#include "layout.h"

/* PVH: Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY (18) holds the 32-bit entry. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 4                 /* name size: "Xen\0" */
	.long 8                 /* desc size: a 64-bit address, as QEMU reads it */
	.long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.quad pvh_entry

/*
 * Entered in 32-bit protected mode, paging off, flat segments, EBX = address
 * of struct hvm_start_info. No stack yet, and none is needed until long mode.
 */
	.section .text.entry, "ax"
	.code32
	.globl pvh_entry
pvh_entry:
	cli
	cld
	rdtsc                   /* boot_tsc: when we started, for "verbose" */
	movl %eax, boot_tsc
	movl %edx, boot_tsc + 4
	lgdt gdt_desc
	xorl %esi, %esi         /* ESI = 0: bootstrap processor */
	jmp common32

/* APs arrive here from the real-mode trampoline, already using our GDT. */
	.globl ap_entry32
ap_entry32:
	movl $1, %esi           /* ESI = 1: application processor */

common32:
	movl $SEL_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %cr4, %eax
	orl $0x20, %eax         /* CR4.PAE */
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xC0000080, %ecx  /* IA32_EFER */
	rdmsr
	orl $0x100, %eax        /* EFER.LME */
	wrmsr
	movl %cr0, %eax
	andl $0x9FFFFFFF, %eax  /* caches on: INIT leaves an AP with CD and NW set */
	orl $0x80000001, %eax   /* CR0.PG | CR0.PE */
	movl %eax, %cr0
	ljmp $SEL_CODE64, $long64

	.code64
long64:
	movl $SEL_DATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	testl %esi, %esi
	jnz 1f
	movq $BSP_STACK_TOP, %rsp
	movl %ebx, %edi         /* bsp_main(start_info address) */
	call bsp_main
	jmp halt_forever

	/* AP: pick the stack of our APIC id, read from the LAPIC ID register. */
1:	movl $LAPIC_BASE, %edx
	movl 0x20(%rdx), %edi
	shrl $24, %edi
	cmpl $MAX_APIC_ID, %edi
	jae halt_forever
	leal 1(%rdi), %eax
	imull $AP_STACK_SIZE, %eax
	addl $BSP_STACK_TOP, %eax
	movq %rax, %rsp
	call ap_main            /* ap_main(apic id) */

	.globl halt_forever
halt_forever:
	cli
	hlt
	jmp halt_forever

/* GDT: null, 32-bit code, data, 64-bit code (accessed bits preset). */
	.section .rodata.gdt, "a"
	.balign 16
	.globl gdt
gdt:
	.quad 0
	.quad 0x00CF9B000000FFFF
	.quad 0x00CF93000000FFFF
	.quad 0x00AF9B000000FFFF
gdt_desc:
	.word GDT_LIMIT
	.long gdt

/*
 * Identity map of the first 4 GiB with 2 MiB pages: PML4 -> PDPT -> 4 PDs.
 * Accessed and dirty bits are preset so the page walker never writes them.
 * The MMIO gap from 3 GiB (virtio-mmio devices, IOAPIC, LAPIC) is uncached.
 */
#define PTE_TABLE 0x23          /* present, writable, accessed */
#define PDE_2M    0xE3          /* present, writable, accessed, dirty, 2M */
#define PDE_UC    0x18          /* PWT | PCD */

	.section .data
	.balign 8
	.globl boot_tsc
boot_tsc:
	.quad 0

	.section .data.pagetables, "aw"
	.balign 4096
	.globl pml4, pdpt
pml4:
	.quad pdpt + PTE_TABLE
	.fill 511, 8, 0
pdpt:
	.quad pd0 + PTE_TABLE
	.quad pd0 + 0x1000 + PTE_TABLE
	.quad pd0 + 0x2000 + PTE_TABLE
	.quad pd0 + 0x3000 + PTE_TABLE
	.fill 508, 8, 0
pd0:
	.set page, 0
	.rept 2048
	.if page >= 0xC0000000
	.quad page + PDE_2M + PDE_UC
	.else
	.quad page + PDE_2M
	.endif
	.set page, page + 0x200000
	.endr

	.section .note.GNU-stack, "", @progbits
