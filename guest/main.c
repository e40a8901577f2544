/*
 * brood test guest: boot sequence of the bootstrap processor and its command
 * loop. See docs/test-guest.md.
 */
#include "apic.h"
#include "boot.h"
#include "commands.h"
#include "fmt.h"
#include "interrupts.h"
#include "layout.h"
#include "serial.h"
#include "smp.h"

#define CMD_MAX 128

static void say_ready(void)
{
	struct line l;

	l.len = 0;
	line_str(&l, "brood-guest ready cpus=");
	line_dec(&l, smp_online_count());
	line_str(&l, " mem_mib=");
	line_dec(&l, boot.mem_mib);
	line_send(&l);
}

extern u64 boot_tsc; /* entry.S */

/* "boottime": how long the boot took, timing the TSC against the LAPIC timer. */
static void say_boot_time(void)
{
	u64 ready = rdtsc(), t0, per_ms;
	struct line l;

	t0 = rdtsc();
	wait_until(NULL, 10);
	per_ms = (rdtsc() - t0) / 10;
	l.len = 0;
	line_str(&l, "brood-guest: entry to ready ");
	line_dec(&l, per_ms ? (ready - boot_tsc) * 1000 / per_ms : 0);
	line_str(&l, " us, tsc_khz=");
	line_dec(&l, per_ms);
	line_send(&l);
}

/* Sleeps until a byte arrives; runs each complete line. */
NORETURN static void command_loop(void)
{
	static char cmd[CMD_MAX];
	u32 len = 0;
	int too_long = 0;

	for (;;) {
		int c;

		cli();
		c = serial_getc();
		if (c < 0) {
			sti_hlt();
			continue;
		}
		sti();
		if (c != '\n' && c != '\r') {
			if (len < CMD_MAX - 1)
				cmd[len++] = (char)c;
			else
				too_long = 1;
			continue;
		}
		cmd[len] = 0;
		if (too_long)
			say("error: line too long");
		else
			command_run(cmd);
		len = 0;
		too_long = 0;
	}
}

/* entry.S calls this in long mode, on the BSP stack, interrupts off. */
NORETURN void bsp_main(u64 start_info);
NORETURN void bsp_main(u64 start_info)
{
	u64 ioapic = IOAPIC_BASE;
	enum cpu_source source;

	serial_init();
	say("brood-guest: boot");
	boot_parse(start_info);
	if (!boot.start_info_ok)
		say("brood-guest: warning: no PVH start info");
	else if (!boot.memmap_entries)
		say("brood-guest: warning: no memory map, touch/verify disabled");
	if (boot.verbose)
		boot_log();
	boot_map_high_memory();
	pic_mask_all();
	idt_init();
	lapic_init(1);
	source = smp_discover(boot.cmdline_cpus, &ioapic);
	if (boot.verbose) {
		static const char *const names[] = { "command line", "MP table", "default" };
		struct line l;

		l.len = 0;
		line_str(&l, "brood-guest: cpu list from ");
		line_str(&l, names[source]);
		line_str(&l, ", ioapic=");
		line_hex(&l, ioapic);
		line_str(&l, ", bsp apic id=");
		line_dec(&l, smp_bsp_apic_id());
		line_send(&l);
	}
	ioapic_route(ioapic, COM1_IOAPIC_PIN, VEC_SERIAL, smp_bsp_apic_id());
	ioapic_route(ioapic, KEYBOARD_IOAPIC_PIN, VEC_KEYBOARD, smp_bsp_apic_id());
	serial_irq(); /* bytes that came before the route: take them, re-arm the edge */
	sti();
	smp_boot_aps();
	if (boot.boottime)
		say_boot_time();
	say_ready();
	command_loop();
}
