/* touch/verify: one 64-bit word per 4 KiB page of the test region. */
#ifndef BROOD_GUEST_MEMTEST_H
#define BROOD_GUEST_MEMTEST_H

#include "arch.h"

struct memtest_result {
	u64 pages;    /* pages written or checked */
	u64 checksum; /* sum of the values, mod 2^64 */
	int bad;      /* verify found a page whose word differs */
	u64 bad_page, expected, got;
};

/*
 * Writes (verify == 0) or checks the first word of test pages 0..pages-1.
 * The caller makes sure that many pages exist (boot.test_pages).
 */
void memtest_run(u64 pages, u64 seed, int verify, struct memtest_result *r);

#endif
