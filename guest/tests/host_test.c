/*
 * Host-compiled tests of the guest's pure logic: command line and memory map
 * parsing, MP table reading, the touch/verify pattern, number parsing and
 * formatting. Runs as an ordinary process; the MP table test maps memory at
 * guest-physical 0xF0000 (allowed above vm.mmap_min_addr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../boot.h"
#include "../fmt.h"
#include "../layout.h"
#include "../memtest.h"
#include "../smp.h"

/* What the guest files under test need from the rest of the guest. */
u64 lapic_ticks_per_ms = 1000000;
u64 pdpt[512];
static char serial_out[4096];
static size_t serial_len;
void serial_write(const char *s, u32 n)
{
	memcpy(serial_out + serial_len, s, n);
	serial_len += n;
	serial_out[serial_len] = 0;
}

static int passed, failed;
#define CHECK(cond)                                                          \
	do {                                                                 \
		if (cond) {                                                  \
			passed++;                                            \
		} else {                                                     \
			failed++;                                            \
			printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		}                                                            \
	} while (0)

struct start_info {
	u32 magic, version, flags, nr_modules;
	u64 modlist, cmdline, rsdp, memmap;
	u32 memmap_entries, reserved;
};
struct memmap_entry {
	u64 addr, size;
	u32 type, reserved;
};

static void parse(u32 version, const char *cmdline, const struct memmap_entry *m, u32 n)
{
	struct start_info si = { 0x336ec578, version, 0, 0, 0, (u64)cmdline, 0, (u64)m, n, 0 };

	memset(&boot, 0, sizeof(boot));
	boot_parse((u64)&si);
}

static void test_cmdline(void)
{
	parse(1, "cpus=4 lapic_khz=2000 verbose", NULL, 0);
	CHECK(boot.start_info_ok && boot.cmdline_cpus == 4 && boot.verbose && !boot.boottime);
	CHECK(lapic_ticks_per_ms == 2000);
	lapic_ticks_per_ms = 1000000;
	parse(1, "  cpus=999\tboottime ", NULL, 0);
	CHECK(boot.cmdline_cpus == MAX_CPUS && boot.boottime);
	parse(1, "xcpus=3 cpus=abc verbosex", NULL, 0);
	CHECK(boot.cmdline_cpus == 0 && !boot.verbose);
	parse(1, "", NULL, 0);
	CHECK(boot.cmdline_cpus == 0);
	memset(&boot, 0, sizeof(boot));
	struct start_info bad = { 0x12345678, 1, 0, 0, 0, 0, 0, 0, 0, 0 };
	boot_parse((u64)&bad);
	CHECK(!boot.start_info_ok);
}

static void test_memmap(void)
{
	const u64 M = 1ul << 20, G = 1ul << 30;
	struct memmap_entry small[] = { /* QEMU microvm, -m 128 */
		{ 0, 0x9fc00, 1, 0 }, { 0x9fc00, 0x400, 2, 0 }, { 0xf0000, 0x10000, 2, 0 },
		{ 0x100000, 127 * M, 1, 0 }, { 0, 0, 0, 0 },
	};
	parse(1, NULL, small, 5);
	CHECK(boot.mem_mib == 128);
	CHECK(boot.test_ranges == 1 && boot.test[0].start == 16 * M && boot.test[0].end == 128 * M);
	CHECK(boot.test_pages == 112 * 256 && boot.ram_top == 128 * M);

	struct memmap_entry big[] = { /* unsorted, RAM above 4 GiB, odd edges */
		{ 4 * G, 2 * G + 0x800, 1, 0 }, { 0, 0x9fc00, 1, 0 },
		{ 0x100000, 3 * G - 0x100000, 1, 0 }, { 0xfec00000, 0x1000, 2, 0 },
	};
	parse(1, NULL, big, 4);
	CHECK(boot.mem_mib == 5 * 1024);
	CHECK(boot.test_ranges == 2);
	CHECK(boot.test[0].start == 16 * M && boot.test[0].end == 3 * G);
	CHECK(boot.test[1].start == 4 * G && boot.test[1].end == 6 * G);
	CHECK(boot.test_pages == (3 * G - 16 * M + 2 * G) / 4096);

	parse(0, NULL, small, 5); /* version 0 has no memory map */
	CHECK(boot.memmap_entries == 0 && boot.mem_mib == 0 && boot.test_pages == 0);
}

static u8 sum8(const void *p, size_t n)
{
	u8 s = 0;
	for (size_t i = 0; i < n; i++)
		s = (u8)(s + ((const u8 *)p)[i]);
	return s;
}

/* Writes an MP floating pointer at `at` and a config table after it. */
static void write_mptable(u8 *seg, u32 at, int ncpu, int broken_checksum)
{
	u8 *f = seg + (at - 0xF0000);
	u32 config = at + 16;
	u8 *c = f + 16, *e = c + 44;
	u16 len = 44, count = 0;

	memset(f, 0, 16);
	memcpy(f, "_MP_", 4);
	memcpy(f + 4, &config, 4);
	f[8] = 1;
	f[9] = 4;
	f[10] = (u8)(-sum8(f, 16) + broken_checksum);
	memset(c, 0, 44);
	memcpy(c, "PCMP", 4);
	for (int i = 0; i < ncpu; i++, e += 20, len += 20, count++) {
		memset(e, 0, 20);
		e[1] = (u8)(i * 2);           /* APIC ids 0, 2, 4, ... */
		e[3] = i == 3 ? 0 : (i == 0 ? 3 : 1); /* the fourth is disabled */
	}
	memset(e, 0, 8); /* a bus entry */
	e[0] = 1;
	e += 8, len += 8, count++;
	u32 ioapic = 0xFEC01000;
	memset(e, 0, 8);
	e[0] = 2;
	e[3] = 1;
	memcpy(e + 4, &ioapic, 4);
	len += 8, count++;
	memcpy(c + 4, &len, 2);
	memcpy(c + 34, &count, 2);
}

static void test_mptable(void)
{
	u8 *seg = mmap((void *)0xF0000, 0x10000, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	u32 ids[MAX_CPUS];
	u64 ioapic = 0;

	if (seg != (void *)0xF0000) {
		printf("skip mptable tests: cannot map 0xF0000\n");
		return;
	}
	CHECK(mptable_read(ids, MAX_CPUS, &ioapic) == 0); /* nothing there */
	write_mptable(seg, 0xF0000, 5, 0);
	CHECK(mptable_read(ids, MAX_CPUS, &ioapic) == 4);
	CHECK(ids[0] == 0 && ids[1] == 2 && ids[2] == 4 && ids[3] == 8);
	CHECK(ioapic == 0xFEC01000);
	CHECK(mptable_read(ids, 2, &ioapic) == 2); /* bounded by max */
	memset(seg, 0, 0x10000);
	write_mptable(seg, 0xFF000, 2, 1); /* bad checksum: ignored */
	CHECK(mptable_read(ids, MAX_CPUS, &ioapic) == 0);
	write_mptable(seg, 0xFA5B0, 2, 0); /* found by the scan */
	CHECK(mptable_read(ids, MAX_CPUS, &ioapic) == 2);
	munmap(seg, 0x10000);
}

/* The pattern as docs/test-guest.md states it, written out plainly. */
static u64 doc_mix(u64 z)
{
	u64 y = (z ^ (z >> 32)) * 0xD6E8FEB86659FD93ul;
	return y ^ (y >> 32);
}
static u64 doc_value(u64 seed, u64 i)
{
	const u64 golden = 0x9E3779B97F4A7C15ul;
	return doc_mix(seed + golden) + (i + 1) * golden;
}

static void test_memtest(void)
{
	const u64 pages = 300;
	u8 *mem = aligned_alloc(4096, pages * 4096);
	struct memtest_result r;
	u64 sum = 0;

	memset(mem, 0, pages * 4096);
	memset(&boot, 0, sizeof(boot));
	boot.test_ranges = 2; /* 100 pages, a hole of 50, 150 pages */
	boot.test[0].start = (u64)mem;
	boot.test[0].end = (u64)mem + 100 * 4096;
	boot.test[1].start = (u64)mem + 150 * 4096;
	boot.test[1].end = (u64)mem + 300 * 4096;
	boot.test_pages = 250;

	memtest_run(250, 42, 0, &r);
	for (u64 i = 0; i < 250; i++)
		sum += doc_value(42, i);
	CHECK(!r.bad && r.pages == 250 && r.checksum == sum);
	CHECK(*(u64 *)(mem + 0) == doc_value(42, 0));
	CHECK(*(u64 *)(mem + 99 * 4096) == doc_value(42, 99));
	CHECK(*(u64 *)(mem + 120 * 4096) == 0); /* the hole is untouched */
	CHECK(*(u64 *)(mem + 150 * 4096) == doc_value(42, 100));
	CHECK(*(u64 *)(mem + 150 * 4096 + 8) == 0); /* one word per page */

	memtest_run(250, 42, 1, &r);
	CHECK(!r.bad && r.pages == 250 && r.checksum == sum);
	memtest_run(7, 42, 0, &r);
	CHECK(r.pages == 7);
	memtest_run(250, 43, 1, &r);
	CHECK(r.bad && r.bad_page == 0 && r.expected == doc_value(43, 0) && r.got == doc_value(42, 0));

	*(u64 *)(mem + 160 * 4096) ^= 1; /* test page 110 */
	memtest_run(250, 42, 1, &r);
	CHECK(r.bad && r.bad_page == 110 && r.expected == doc_value(42, 110));
	CHECK(r.got == (doc_value(42, 110) ^ 1));
	memtest_run(110, 42, 1, &r);
	CHECK(!r.bad && r.pages == 110);
	free(mem);
}

static void test_fmt(void)
{
	struct line l;
	u64 v;

	l.len = 0;
	line_str(&l, "n=");
	line_dec(&l, 0);
	line_str(&l, " ");
	line_dec(&l, 18446744073709551615ul);
	line_str(&l, " ");
	line_hex(&l, 0xabcul);
	serial_len = 0;
	line_send(&l);
	CHECK(strcmp(serial_out, "n=0 18446744073709551615 0x0000000000000abc\n") == 0);
	CHECK(parse_u64("0x10", &v) == 0 && v == 16);
	CHECK(parse_u64("18446744073709551615", &v) == 0 && v == ~0ul);
	CHECK(parse_u64("18446744073709551616", &v) != 0);
	CHECK(parse_u64("", &v) != 0 && parse_u64("0x", &v) != 0 && parse_u64("12a", &v) != 0);
	CHECK(str_eq("ping", "ping") && !str_eq("ping", "pin") && !str_eq("pin", "ping"));
}

int main(void)
{
	test_cmdline();
	test_memmap();
	test_mptable();
	test_memtest();
	test_fmt();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
