/* COM1 16550: polled output, interrupt-driven input. */
#ifndef BROOD_GUEST_SERIAL_H
#define BROOD_GUEST_SERIAL_H

#include "arch.h"

/* 8N1, FIFOs on, receive interrupt on (the IOAPIC routes it). */
void serial_init(void);
void serial_write(const char *s, u32 n);
/*
 * The receive interrupt: moves received bytes into the input ring. Also
 * called once after routing the IRQ, so bytes that arrived earlier (while the
 * edge-triggered IOAPIC pin was masked) are taken and the line drops again.
 */
void serial_irq(void);
/* Next received byte, or -1. Call with interrupts disabled. */
int serial_getc(void);

#endif
