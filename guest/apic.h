/* Local APIC, IOAPIC, the legacy PICs, and timer-driven waiting. */
#ifndef BROOD_GUEST_APIC_H
#define BROOD_GUEST_APIC_H

#include "arch.h"

/* LAPIC timer ticks per millisecond with divide-by-1 (KVM: 1 GHz bus). */
extern u64 lapic_ticks_per_ms;

void pic_mask_all(void);
/* Enables this CPU's LAPIC; the BSP also masks LINT0 (ExtINT from the PIC). */
void lapic_init(int is_bsp);
u32 lapic_id(void);
void lapic_eoi(void);
void lapic_send_ipi(u32 dest_apic_id, u32 icr_low);
void lapic_send_ipi_all_but_self(u32 vector);

/* ICR low words for starting an AP */
#define ICR_INIT 0x00004500
#define ICR_STARTUP 0x00004600
#define ICR_FIXED 0x00004000

/* Fixed, physical, edge, active high, unmasked, to dest_apic_id. */
void ioapic_route(u64 ioapic_base, u32 pin, u32 vector, u32 dest_apic_id);

/*
 * Sleeps with hlt until done() returns non-zero (checked after every
 * interrupt, with interrupts off) or ms milliseconds pass, measured by the
 * LAPIC timer in one-shot mode. done may be NULL. Returns 1 if done() said so.
 */
int wait_until(int (*done)(void), u64 ms);

#endif
