/*
 * The PVH start info, in our own words (see docs/test-guest.md): all fields
 * little-endian, memmap fields only from version 1 on.
 */
#include "boot.h"
#include "apic.h"
#include "fmt.h"
#include "layout.h"

#define PVH_MAGIC 0x336ec578
#define E820_RAM 1
#define MIB (1ul << 20)
#define GIB (1ul << 30)

struct pvh_start_info {
	u32 magic;
	u32 version;
	u32 flags;
	u32 nr_modules;
	u64 modlist_paddr;
	u64 cmdline_paddr;
	u64 rsdp_paddr;
	u64 memmap_paddr;   /* version >= 1 */
	u32 memmap_entries; /* version >= 1 */
	u32 reserved;
} __attribute__((packed));

struct pvh_memmap_entry {
	u64 addr;
	u64 size;
	u32 type;
	u32 reserved;
} __attribute__((packed));

struct boot_info boot;
static const struct pvh_start_info *start_info;

static int word_is(const char *word, u32 len, const char *key)
{
	u32 k = 0;

	for (; key[k]; k++)
		if (k >= len || word[k] != key[k])
			return 0;
	return k == len;
}

/* If `word` starts with `key`, parses the number after it into *out. */
static int option(const char *word, u32 len, const char *key, u64 *out)
{
	char num[21];
	u32 k = 0;

	while (key[k]) {
		if (k >= len || word[k] != key[k])
			return 0;
		k++;
	}
	if (len - k >= sizeof(num))
		return 0;
	for (u32 i = 0; i < len - k; i++)
		num[i] = word[k + i];
	num[len - k] = 0;
	return parse_u64(num, out) == 0;
}

static void parse_cmdline(const char *s)
{
	while (*s) {
		u32 len = 0;
		u64 v;

		while (*s == ' ' || *s == '\t')
			s++;
		while (s[len] && s[len] != ' ' && s[len] != '\t')
			len++;
		if (option(s, len, "cpus=", &v))
			boot.cmdline_cpus = v > MAX_CPUS ? MAX_CPUS : (u32)v;
		else if (option(s, len, "lapic_khz=", &v) && v > 0 && v < 0xFFFFFFFFul)
			lapic_ticks_per_ms = v;
		else if (word_is(s, len, "verbose"))
			boot.verbose = 1;
		else if (word_is(s, len, "boottime"))
			boot.boottime = 1;
		s += len;
	}
}

static void add_test_range(u64 start, u64 end)
{
	u32 i = boot.test_ranges;

	start = (start + 0xFFF) & ~0xFFFul;
	end &= ~0xFFFul;
	if (start >= end || i == MAX_TEST_RANGES)
		return;
	while (i > 0 && boot.test[i - 1].start > start) {
		boot.test[i] = boot.test[i - 1];
		i--;
	}
	boot.test[i].start = start;
	boot.test[i].end = end;
	boot.test_ranges++;
	boot.test_pages += (end - start) >> 12;
}

static void parse_memmap(const struct pvh_memmap_entry *e, u32 n)
{
	u64 above_1m = 0;
	int below_1m = 0;
	u64 mapped_top = (u64)MAX_MAPPED_GIB * GIB;

	for (u32 i = 0; i < n; i++, e++) {
		u64 start = e->addr, end = e->addr + e->size;

		if (e->type != E820_RAM || end <= start)
			continue;
		if (start < MIB)
			below_1m = 1;
		if (end > MIB)
			above_1m += end - (start > MIB ? start : MIB);
		if (end > boot.ram_top)
			boot.ram_top = end;
		if (end > mapped_top)
			end = mapped_top;
		if (end > TEST_REGION_BASE)
			add_test_range(start > TEST_REGION_BASE ? start : TEST_REGION_BASE, end);
	}
	/* Count the legacy hole below 1 MiB as RAM: a 128 MiB VM says 128. */
	boot.mem_mib = (above_1m + (below_1m ? MIB : 0)) / MIB;
}

void boot_parse(u64 start_info_paddr)
{
	const struct pvh_start_info *si = (const struct pvh_start_info *)start_info_paddr;

	if (!si || si->magic != PVH_MAGIC)
		return;
	boot.start_info_ok = 1;
	start_info = si;
	if (si->cmdline_paddr)
		parse_cmdline((const char *)si->cmdline_paddr);
	if (si->version >= 1 && si->memmap_paddr && si->memmap_entries) {
		boot.memmap_entries = si->memmap_entries;
		parse_memmap((const struct pvh_memmap_entry *)si->memmap_paddr,
			     si->memmap_entries);
	}
}

extern u64 pdpt[512]; /* entry.S */

void boot_map_high_memory(void)
{
	u64 gibs = (boot.ram_top + GIB - 1) / GIB;

	if (gibs > MAX_MAPPED_GIB)
		gibs = MAX_MAPPED_GIB;
	for (u64 g = 4; g < gibs; g++) {
		u64 *pd = (u64 *)(HIGH_PD_BASE + (g - 4) * 4096);

		for (u64 j = 0; j < 512; j++)
			pd[j] = (g * GIB + j * (2 * MIB)) | 0xE3; /* 2M, A, D, RW, P */
		pdpt[g] = (u64)pd | 0x23;
	}
	if (gibs > 4)
		write_cr3(read_cr3()); /* flush, to be safe */
}

void boot_log(void)
{
	const struct pvh_start_info *si = start_info;
	struct line l;

	l.len = 0;
	line_str(&l, "brood-guest: start_info=");
	line_hex(&l, (u64)si);
	if (si) {
		const struct pvh_memmap_entry *e = (const void *)si->memmap_paddr;

		line_str(&l, " version=");
		line_dec(&l, si->version);
		line_str(&l, " cmdline=");
		line_hex(&l, si->cmdline_paddr);
		line_str(&l, " memmap=");
		line_hex(&l, si->memmap_paddr);
		line_str(&l, " entries=");
		line_dec(&l, boot.memmap_entries);
		line_send(&l);
		for (u32 i = 0; i < boot.memmap_entries; i++, e++) {
			line_str(&l, "brood-guest: memmap ");
			line_hex(&l, e->addr);
			line_str(&l, " size ");
			line_hex(&l, e->size);
			line_str(&l, " type ");
			line_dec(&l, e->type);
			line_send(&l);
		}
	} else {
		line_send(&l);
	}
	for (u32 i = 0; i < boot.test_ranges; i++) {
		line_str(&l, "brood-guest: test range ");
		line_hex(&l, boot.test[i].start);
		line_str(&l, " - ");
		line_hex(&l, boot.test[i].end);
		line_send(&l);
	}
}
