/*
 * Real-mode start-up code for application processors. The BSP copies the
 * bytes between trampoline_start and trampoline_end to TRAMPOLINE_ADDR and
 * sends STARTUP IPIs with vector TRAMPOLINE_ADDR >> 12, so an AP begins here
 * with CS = TRAMPOLINE_ADDR >> 4, IP = 0. It loads the image's GDT, enters
 * protected mode and jumps into the image (ap_entry32 in entry.S), which
 * continues to long mode exactly like the BSP did. Everything it addresses
 * in real mode is relative to the copy, so the code is position independent.
 */
#include "layout.h"

	.section .rodata.trampoline, "a"
	.code16
	.globl trampoline_start, trampoline_end
trampoline_start:
	cli
	movw %cs, %ax
	movw %ax, %ds
	lgdtl tramp_gdt_desc - trampoline_start
	movl %cr0, %eax
	orl $1, %eax            /* CR0.PE */
	movl %eax, %cr0
	ljmpl $SEL_CODE32, $ap_entry32

	.balign 4
tramp_gdt_desc:
	.word GDT_LIMIT
	.long gdt
trampoline_end:

	.section .note.GNU-stack, "", @progbits
