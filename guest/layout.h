/*
 * Guest-physical memory layout, interrupt vectors and device addresses of the
 * brood test guest. Included by both C and assembly, so only #defines here.
 */
#ifndef BROOD_GUEST_LAYOUT_H
#define BROOD_GUEST_LAYOUT_H

/* The AP start-up code is copied here; the SIPI vector is its page number. */
#define TRAMPOLINE_ADDR   0x8000
/* The ELF image (text, data, static page tables) is linked and loaded here. */
#define IMAGE_BASE        0x100000
#define IMAGE_LIMIT       0x400000

/* Stacks live outside the image so they cost nothing to load. */
#define STACKS_BASE       0x400000
#define BSP_STACK_SIZE    0x4000
#define AP_STACK_SIZE     0x2000
#define MAX_APIC_ID       64 /* APs with a higher APIC id park themselves */
#define BSP_STACK_TOP     (STACKS_BASE + BSP_STACK_SIZE)
/* AP with APIC id N uses the stack whose top is AP_STACKS_TOP(N). */
#define AP_STACKS_TOP(n)  (BSP_STACK_TOP + ((n) + 1) * AP_STACK_SIZE)

/* The virtio-vsock driver's rings and buffers (vsock.c), 64 KiB. */
#define VSOCK_AREA        0x500000

/* Page directories for RAM above 4 GiB, built at boot only when needed. */
#define HIGH_PD_BASE      0x600000
#define MAX_MAPPED_GIB    512 /* one PDPT */

/* touch/verify use RAM pages from here upwards. */
#define TEST_REGION_BASE  0x1000000

#define MAX_CPUS          64

/* GDT selectors (entry.S); the GDT has four 8-byte entries. */
#define SEL_CODE32        0x08
#define SEL_DATA          0x10
#define SEL_CODE64        0x18
#define GDT_LIMIT         (4 * 8 - 1)

/* Interrupt vectors */
#define VEC_SERIAL        0x30 /* COM1, IOAPIC pin 4 */
#define VEC_KEYBOARD      0x31 /* i8042 keyboard, IOAPIC pin 1 */
#define VEC_VIRTIO        0x32 /* the vsock device's line: wakes a waiting BSP */
#define VEC_TIMER         0x40 /* LAPIC timer, one-shot */
#define VEC_PING          0x50 /* BSP -> APs: "are you there?" */
#define VEC_WAKE          0x51 /* AP -> BSP: "something changed, look" */
#define VEC_SPURIOUS      0xFF

/* Devices */
#define LAPIC_BASE        0xFEE00000
#define IOAPIC_BASE       0xFEC00000
#define COM1_PORT         0x3F8
#define COM1_IOAPIC_PIN   4
#define POWEROFF_PORT     0x604  /* brood-vmm: outw 0x2000 powers off */
#define POWEROFF_VALUE    0x2000
#define I8042_DATA_PORT   0x60
#define I8042_CMD_PORT    0x64   /* outb 0xFE: pulse reset line */
#define KEYBOARD_IOAPIC_PIN 1

#endif
