/*
 * Test page i (0-based, counting RAM pages from TEST_REGION_BASE upwards
 * across any holes) holds, in its first 8 bytes (all arithmetic mod 2^64):
 *   value(i) = base + (i + 1) * GOLDEN,  base = mix(seed + GOLDEN)
 *   mix(z)   = y ^ (y >> 32)  where  y = (z ^ (z >> 32)) * MIX
 * The seed is hashed once; consecutive pages then differ by an odd constant,
 * so the loops need only an add per page (every instruction is emulated:
 * touch costs ~3 instructions a page, verify ~5). A wrong seed shifts the
 * whole sequence by a pseudo-random distance and fails at once.
 * checksum = sum of value(i) for the pages done, computed in closed form.
 */
#include "memtest.h"
#include "boot.h"

#define GOLDEN 0x9E3779B97F4A7C15ul
#define MIX 0xD6E8FEB86659FD93ul

static u64 mix(u64 z)
{
	z = (z ^ (z >> 32)) * MIX;
	return z ^ (z >> 32);
}

/* sum over i < n of base + (i + 1) * GOLDEN */
static u64 checksum(u64 base, u64 n)
{
	u64 tri = n % 2 ? n * ((n + 1) / 2) : (n / 2) * (n + 1);

	return n * base + tri * GOLDEN;
}

/* Writes pages [p, end); returns the state after the last one. */
static u64 touch_range(u64 p, u64 end, u64 state)
{
#pragma GCC unroll 8
	for (; p < end; p += 4096) {
		state += GOLDEN;
		*(volatile u64 *)p = state;
	}
	return state;
}

/* Checks pages [p, end); returns the first bad address, or end. */
static u64 verify_range(u64 p, u64 end, u64 *state)
{
	u64 s = *state;

	for (; p < end; p += 4096) {
		s += GOLDEN;
		if (*(volatile u64 *)p != s)
			break;
	}
	*state = s;
	return p;
}

void memtest_run(u64 pages, u64 seed, int verify, struct memtest_result *r)
{
	u64 base = mix(seed + GOLDEN);
	u64 state = base, done = 0;

	r->bad = 0;
	for (u32 i = 0; i < boot.test_ranges && done < pages; i++) {
		u64 start = boot.test[i].start;
		u64 n = (boot.test[i].end - start) >> 12;
		u64 end;

		if (n > pages - done)
			n = pages - done;
		end = start + (n << 12);
		if (!verify) {
			state = touch_range(start, end, state);
		} else {
			u64 bad = verify_range(start, end, &state);

			if (bad != end) {
				r->bad = 1;
				r->bad_page = done + ((bad - start) >> 12);
				r->expected = state;
				r->got = *(volatile u64 *)bad;
				r->pages = r->bad_page;
				r->checksum = checksum(base, r->bad_page);
				return;
			}
		}
		done += n;
	}
	r->pages = done;
	r->checksum = checksum(base, done);
}
