/*
 * Handlers use GCC's interrupt attribute: it saves only the registers a
 * handler uses and returns with iretq, so a tick costs a few dozen emulated
 * instructions. The `int` instruction does not work on our KVM, so vectors
 * are only ever raised by exceptions, the IOAPIC and the LAPIC.
 */
#include "interrupts.h"
#include "apic.h"
#include "fmt.h"
#include "layout.h"
#include "serial.h"
#include "smp.h"

struct interrupt_frame {
	u64 rip, cs, rflags, rsp, ss;
};

struct idt_gate {
	u16 offset_lo;
	u16 selector;
	u8 ist;
	u8 type; /* 0x8E: present, DPL 0, 64-bit interrupt gate */
	u16 offset_mid;
	u32 offset_hi;
	u32 reserved;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(16)));

#define IRQ_HANDLER __attribute__((interrupt))

NORETURN static void fatal_exception(u64 vector, u64 error, u64 rip)
{
	struct line l;

	l.len = 0;
	line_str(&l, "brood-guest: exception ");
	line_dec(&l, vector);
	line_str(&l, " error=");
	line_hex(&l, error);
	line_str(&l, " rip=");
	line_hex(&l, rip);
	line_str(&l, " cpu=");
	line_dec(&l, lapic_id());
	line_send(&l);
	halt_forever();
}

/*
 * Only the exceptions a bug here can raise get a gate; any other one finds
 * its gate not present, which becomes a double fault, reported as vector 8.
 * Fewer gates, fewer emulated instructions at boot.
 */
#define EXCEPTION(n)                                                  \
	IRQ_HANDLER static void exception_##n(struct interrupt_frame *f) \
	{                                                             \
		fatal_exception(n, 0, f->rip);                        \
	}
#define EXCEPTION_ERR(n)                                                         \
	IRQ_HANDLER static void exception_##n(struct interrupt_frame *f, u64 error) \
	{                                                                        \
		fatal_exception(n, error, f->rip);                               \
	}
EXCEPTION(0) EXCEPTION(6) EXCEPTION_ERR(8) EXCEPTION_ERR(13) EXCEPTION_ERR(14)

IRQ_HANDLER static void ignore_interrupt(struct interrupt_frame *f)
{
	(void)f; /* NMI and the spurious vector: no EOI */
}

IRQ_HANDLER static void serial_interrupt(struct interrupt_frame *f)
{
	(void)f;
	serial_irq();
	lapic_eoi();
}

/*
 * Ctrl+Alt+Del from the keyboard controller is a VMM's graceful shutdown
 * request (brood-vmm's PUT /vm/shutdown): answer it by powering off.
 */
IRQ_HANDLER static void keyboard_interrupt(struct interrupt_frame *f)
{
	static int ctrl, alt;

	(void)f;
	while (inb(I8042_CMD_PORT) & 1) {
		u8 code = inb(I8042_DATA_PORT);

		if ((code & 0x7F) == 0x1D)
			ctrl = !(code & 0x80);
		else if ((code & 0x7F) == 0x38)
			alt = !(code & 0x80);
		else if (code == 0x53 && ctrl && alt)
			power_off();
	}
	lapic_eoi();
}

IRQ_HANDLER static void virtio_interrupt(struct interrupt_frame *f)
{
	(void)f; /* the driver polls its rings; the interrupt only ends a hlt */
	lapic_eoi();
}

IRQ_HANDLER static void timer_interrupt(struct interrupt_frame *f)
{
	(void)f; /* waking up from hlt is all it is for */
	lapic_eoi();
}

IRQ_HANDLER static void ping_interrupt(struct interrupt_frame *f)
{
	(void)f;
	smp_ping_received();
	lapic_eoi();
}

IRQ_HANDLER static void wake_interrupt(struct interrupt_frame *f)
{
	(void)f; /* the BSP re-checks what it waits for */
	lapic_eoi();
}

static void set_gate(u32 vector, void *handler)
{
	u64 a = (u64)handler;
	struct idt_gate *g = &idt[vector];

	g->offset_lo = (u16)a;
	g->selector = SEL_CODE64;
	g->ist = 0;
	g->type = 0x8E;
	g->offset_mid = (u16)(a >> 16);
	g->offset_hi = (u32)(a >> 32);
	g->reserved = 0;
}

void idt_init(void)
{
	set_gate(0, exception_0);   /* divide error */
	set_gate(2, ignore_interrupt); /* NMI */
	set_gate(6, exception_6);   /* invalid opcode */
	set_gate(8, exception_8);   /* double fault, and every gate not set */
	set_gate(13, exception_13); /* general protection */
	set_gate(14, exception_14); /* page fault */
	set_gate(VEC_SERIAL, serial_interrupt);
	set_gate(VEC_KEYBOARD, keyboard_interrupt);
	set_gate(VEC_TIMER, timer_interrupt);
	set_gate(VEC_VIRTIO, virtio_interrupt);
	set_gate(VEC_PING, ping_interrupt);
	set_gate(VEC_WAKE, wake_interrupt);
	set_gate(VEC_SPURIOUS, ignore_interrupt);
	idt_load();
}

static void lidt(u64 base, u16 limit)
{
	struct {
		u16 limit;
		u64 base;
	} __attribute__((packed)) desc = { limit, base };

	__asm__ volatile("lidt %0" : : "m"(desc));
}

void idt_load(void)
{
	lidt((u64)idt, sizeof(idt) - 1);
}

void triple_fault(void)
{
	lidt(0, 0);
	__asm__ volatile("int3");
	halt_forever();
}
