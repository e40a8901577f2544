#include "apic.h"
#include "layout.h"

#define LAPIC_ID 0x020
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0B0
#define LAPIC_SVR 0x0F0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3E0

#define LVT_MASKED 0x10000
#define SVR_ENABLE 0x100
#define TIMER_DIV_1 0xB
#define ICR_ALL_BUT_SELF (3u << 18)

#define MSR_APIC_BASE 0x1B
#define APIC_BASE_ENABLE (1u << 11)

u64 lapic_ticks_per_ms = 1000000;

static u32 lapic_read(u32 reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

static void lapic_write(u32 reg, u32 v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}

void pic_mask_all(void)
{
	outb(0x21, 0xFF);
	outb(0xA1, 0xFF);
}

void lapic_init(int is_bsp)
{
	u64 base = rdmsr(MSR_APIC_BASE);

	if (!(base & APIC_BASE_ENABLE))
		wrmsr(MSR_APIC_BASE, base | APIC_BASE_ENABLE);
	lapic_write(LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	lapic_write(LAPIC_TPR, 0);
	if (is_bsp)
		lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
	lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_1);
	lapic_write(LAPIC_LVT_TIMER, VEC_TIMER); /* one-shot */
}

u32 lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}

void lapic_send_ipi(u32 dest_apic_id, u32 icr_low)
{
	lapic_write(LAPIC_ICR_HI, dest_apic_id << 24);
	lapic_write(LAPIC_ICR_LO, icr_low);
}

void lapic_send_ipi_all_but_self(u32 vector)
{
	lapic_write(LAPIC_ICR_LO, ICR_ALL_BUT_SELF | ICR_FIXED | vector);
}

void ioapic_route(u64 ioapic_base, u32 pin, u32 vector, u32 dest_apic_id)
{
	volatile u32 *sel = (volatile u32 *)ioapic_base;
	volatile u32 *win = (volatile u32 *)(ioapic_base + 0x10);

	*sel = 0x10 + 2 * pin + 1;
	*win = dest_apic_id << 24;
	*sel = 0x10 + 2 * pin;
	*win = vector;
}

static int wait_chunk(int (*done)(void), u32 ticks)
{
	int ok = 0;

	lapic_write(LAPIC_TIMER_INIT, ticks);
	for (;;) {
		cli();
		if (done && done()) {
			ok = 1;
			break;
		}
		if (lapic_read(LAPIC_TIMER_CUR) == 0)
			break;
		sti_hlt(); /* the timer, or whatever changes done(), wakes us */
	}
	lapic_write(LAPIC_TIMER_INIT, 0); /* stop it; a late tick only wakes */
	sti();
	return ok;
}

int wait_until(int (*done)(void), u64 ms)
{
	u64 max_ms = 0xFFFFFFFFul / lapic_ticks_per_ms;

	do {
		u64 chunk = ms < max_ms ? ms : max_ms;

		if (wait_chunk(done, (u32)(chunk * lapic_ticks_per_ms)))
			return 1;
		ms -= chunk;
	} while (ms);
	return 0;
}
