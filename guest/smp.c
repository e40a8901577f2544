/*
 * CPUs are kept in a small table sorted by APIC id. The BSP starts the APs
 * with INIT and STARTUP IPIs; an AP runs the trampoline, enters long mode on
 * its own stack, marks itself online and sends the BSP a wake IPI, then idles
 * in hlt. The BSP sleeps in hlt too, so nobody spins while waiting.
 */
#include "smp.h"
#include "apic.h"
#include "interrupts.h"
#include "layout.h"

struct cpu {
	u32 apic_id;
	volatile u32 online;
	volatile u32 acks; /* pings answered, bumped by the AP itself */
};

static struct cpu cpus[MAX_CPUS];
static u32 ncpus;
static u8 slot_of_apic[MAX_APIC_ID]; /* APIC id -> index in cpus[] */
static u32 bsp_apic;
static u32 acks_before[MAX_CPUS];

extern const char trampoline_start[], trampoline_end[];

static void add_cpu(u32 apic_id)
{
	u32 i = ncpus;

	if (ncpus == MAX_CPUS || apic_id >= MAX_APIC_ID)
		return;
	for (u32 j = 0; j < ncpus; j++)
		if (cpus[j].apic_id == apic_id)
			return;
	while (i > 0 && cpus[i - 1].apic_id > apic_id) { /* insertion sort */
		cpus[i] = cpus[i - 1];
		i--;
	}
	cpus[i].apic_id = apic_id;
	cpus[i].online = 0;
	cpus[i].acks = 0;
	ncpus++;
}

enum cpu_source smp_discover(u32 cmdline_cpus, u64 *ioapic)
{
	enum cpu_source source = CPUS_DEFAULT;
	u32 ids[MAX_CPUS];
	u32 n;

	bsp_apic = lapic_id();
	if (cmdline_cpus) {
		for (u32 id = 0; id < cmdline_cpus; id++)
			add_cpu(id);
		source = CPUS_FROM_CMDLINE;
	} else if ((n = mptable_read(ids, MAX_CPUS, ioapic)) != 0) {
		for (u32 i = 0; i < n; i++)
			add_cpu(ids[i]);
		source = CPUS_FROM_MPTABLE;
	}
	add_cpu(bsp_apic);
	for (u32 i = 0; i < ncpus; i++) {
		slot_of_apic[cpus[i].apic_id] = (u8)i;
		cpus[i].online = cpus[i].apic_id == bsp_apic;
	}
	return source;
}

static int all_online(void)
{
	return smp_online_count() == ncpus;
}

static void send_startup_to_offline(void)
{
	for (u32 i = 0; i < ncpus; i++)
		if (!cpus[i].online)
			lapic_send_ipi(cpus[i].apic_id, ICR_STARTUP | (TRAMPOLINE_ADDR >> 12));
}

void smp_boot_aps(void)
{
	if (ncpus == 1)
		return;
	memcpy((void *)TRAMPOLINE_ADDR, trampoline_start,
	       (unsigned long)(trampoline_end - trampoline_start));
	for (u32 i = 0; i < ncpus; i++)
		if (!cpus[i].online)
			lapic_send_ipi(cpus[i].apic_id, ICR_INIT);
	send_startup_to_offline();
	/* KVM needs one STARTUP; real CPUs may want a second. */
	if (!wait_until(all_online, 10)) {
		send_startup_to_offline();
		wait_until(all_online, 500);
	}
}

u32 smp_online_count(void)
{
	u32 n = 0;

	for (u32 i = 0; i < ncpus; i++)
		n += cpus[i].online;
	return n;
}

u32 smp_bsp_apic_id(void)
{
	return bsp_apic;
}

static int all_acked(void)
{
	for (u32 i = 0; i < ncpus; i++)
		if (cpus[i].online && cpus[i].apic_id != bsp_apic &&
		    cpus[i].acks == acks_before[i])
			return 0;
	return 1;
}

void smp_cpus_command(struct line *out)
{
	u32 n = 0;

	for (u32 i = 0; i < ncpus; i++)
		acks_before[i] = cpus[i].acks;
	if (ncpus > 1) {
		lapic_send_ipi_all_but_self(VEC_PING);
		wait_until(all_acked, 200);
	}
	for (u32 i = 0; i < ncpus; i++)
		n += cpus[i].apic_id == bsp_apic || cpus[i].acks != acks_before[i];
	line_str(out, "cpus online=");
	line_dec(out, n);
	line_str(out, " ids=");
	for (u32 i = 0, first = 1; i < ncpus; i++) {
		if (cpus[i].apic_id != bsp_apic && cpus[i].acks == acks_before[i])
			continue;
		if (!first)
			line_str(out, ",");
		line_dec(out, cpus[i].apic_id);
		first = 0;
	}
}

void smp_ping_received(void)
{
	u32 id = lapic_id();

	if (id < MAX_APIC_ID && cpus[slot_of_apic[id]].apic_id == id) {
		cpus[slot_of_apic[id]].acks++;
		lapic_send_ipi(bsp_apic, ICR_FIXED | VEC_WAKE);
	}
}

/* entry.S jumps here on each AP, on its own stack, interrupts off. */
NORETURN void ap_main(u32 apic_id);
NORETURN void ap_main(u32 apic_id)
{
	struct cpu *c = &cpus[slot_of_apic[apic_id]];

	if (c->apic_id != apic_id) /* not in the table: stay out of the way */
		halt_forever();
	idt_load();
	lapic_init(0);
	c->online = 1;
	lapic_send_ipi(bsp_apic, ICR_FIXED | VEC_WAKE);
	for (;;)
		sti_hlt();
}
