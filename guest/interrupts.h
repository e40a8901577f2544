/* The IDT, shared by all CPUs, and the interrupt handlers. */
#ifndef BROOD_GUEST_INTERRUPTS_H
#define BROOD_GUEST_INTERRUPTS_H

/* Fills the IDT (BSP, once). */
void idt_init(void);
/* Loads the IDT on this CPU. */
void idt_load(void);

#endif
