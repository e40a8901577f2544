/* The IDT, shared by all CPUs, and the interrupt handlers. */
#ifndef BROOD_GUEST_INTERRUPTS_H
#define BROOD_GUEST_INTERRUPTS_H

/* Fills the IDT (BSP, once). */
void idt_init(void);
/* Loads the IDT on this CPU. */
void idt_load(void);
/* Loads an empty IDT and raises #BP on this CPU: the #BP, the #GP and the
 * #DF it leads to all miss the IDT, so the CPU shuts down (triple fault). */
void triple_fault(void) __attribute__((noreturn));

#endif
