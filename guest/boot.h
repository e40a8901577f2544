/* What the guest learns at boot: PVH start info, command line, memory map. */
#ifndef BROOD_GUEST_BOOT_H
#define BROOD_GUEST_BOOT_H

#include "arch.h"

#define MAX_TEST_RANGES 16

struct range {
	u64 start, end; /* page aligned, end exclusive */
};

struct boot_info {
	int start_info_ok;  /* magic matched */
	u32 memmap_entries; /* 0: no memory map (start info version 0) */
	u32 cmdline_cpus;   /* cpus=N, 0 when absent */
	int verbose;        /* "verbose" on the command line: log what we found */
	int boottime;       /* "boottime": print how long the boot took */
	u64 mem_mib;
	u64 ram_top;        /* highest end of a RAM region */
	u32 test_ranges;    /* RAM at or above TEST_REGION_BASE, sorted */
	struct range test[MAX_TEST_RANGES];
	u64 test_pages;     /* 4 KiB pages in all test ranges */
};

extern struct boot_info boot;

/* Reads the PVH start info (and the command line and memory map it points to). */
void boot_parse(u64 start_info_paddr);
/* With "verbose": prints start info, memory map and test ranges. */
void boot_log(void);
/* Extends the identity map beyond 4 GiB when RAM goes there (up to 512 GiB). */
void boot_map_high_memory(void);

#endif
