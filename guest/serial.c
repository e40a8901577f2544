/*
 * Every port access is a VM exit, so output writes whole FIFO loads: when the
 * line status says the transmitter is empty, 16 bytes fit without asking
 * again (1 byte if the UART has no FIFO). Emulated UARTs report "empty" at
 * once, so the wait is a single read.
 */
#include "serial.h"
#include "layout.h"

#define RBR (COM1_PORT + 0) /* receive buffer / transmit holding */
#define IER (COM1_PORT + 1)
#define FCR (COM1_PORT + 2)
#define LCR (COM1_PORT + 3)
#define MCR (COM1_PORT + 4)
#define LSR (COM1_PORT + 5)

#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define IIR_FIFO_ON 0xC0

#define RING_SIZE 1024 /* power of two */

static volatile u32 ring_head; /* written by the interrupt handler */
static volatile u32 ring_tail; /* written by serial_getc */
static volatile char ring[RING_SIZE];
static u32 tx_fifo_size = 1; /* 16 once the FIFO is known to be on */

void serial_init(void)
{
	outb(IER, 0x00);
	outb(LCR, 0x03); /* 8 data bits, no parity, 1 stop bit, DLAB off */
	serial_irq();    /* keep bytes sent before boot: the FCR write drops them */
	outb(FCR, 0x07); /* FIFOs on and cleared, interrupt at 1 byte */
	if ((inb(FCR) & IIR_FIFO_ON) == IIR_FIFO_ON) /* reads IIR */
		tx_fifo_size = 16;
	outb(MCR, 0x0B); /* DTR, RTS, OUT2 (gates the IRQ line on PCs) */
	outb(IER, 0x01); /* interrupt when received data is available */
}

void serial_write(const char *s, u32 n)
{
	while (n) {
		u32 chunk = n < tx_fifo_size ? n : tx_fifo_size;

		while (!(inb(LSR) & LSR_THR_EMPTY))
			;
		n -= chunk;
		while (chunk--)
			outb(RBR, (u8)*s++);
	}
}

void serial_irq(void)
{
	while (inb(LSR) & LSR_DATA_READY) {
		char c = (char)inb(RBR);
		u32 head = ring_head;

		if (head - ring_tail < RING_SIZE) { /* else drop: ring is full */
			ring[head % RING_SIZE] = c;
			ring_head = head + 1;
		}
	}
}

int serial_getc(void)
{
	u32 tail = ring_tail;

	if (tail == ring_head)
		return -1;
	ring_tail = tail + 1;
	return (u8)ring[tail % RING_SIZE];
}
