/* Finding the vCPUs, starting the APs, and asking them to answer an IPI. */
#ifndef BROOD_GUEST_SMP_H
#define BROOD_GUEST_SMP_H

#include "arch.h"
#include "fmt.h"

/* Where the CPU list came from, for the boot log. */
enum cpu_source { CPUS_FROM_CMDLINE, CPUS_FROM_MPTABLE, CPUS_DEFAULT };

/*
 * Builds the CPU list: APIC ids 0..cmdline_cpus-1 if cmdline_cpus > 0, else
 * the enabled processors of the MP table, else just the BSP. Sets *ioapic to
 * the MP table's IOAPIC address when it names one.
 */
enum cpu_source smp_discover(u32 cmdline_cpus, u64 *ioapic);
/* Starts every AP with INIT + STARTUP and waits (bounded) until they run. */
void smp_boot_aps(void);
u32 smp_online_count(void);
u32 smp_bsp_apic_id(void);
/* `cpus`: IPIs every AP, waits up to 200 ms, lists the CPUs that answered. */
void smp_cpus_command(struct line *out);
/* Runs on an AP when the ping IPI arrives. */
void smp_ping_received(void);

/* mptable.c: APIC ids of enabled processors; returns their number, 0 if none. */
u32 mptable_read(u32 *apic_ids, u32 max, u64 *ioapic);

#endif
