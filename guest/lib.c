/* The C library functions the compiler may call on its own. */
#include "fmt.h"

/* GCC may emit calls to these even in freestanding code. */
void *memcpy(void *dst, const void *src, unsigned long n)
{
	u8 *d = dst;
	const u8 *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

void *memset(void *dst, int c, unsigned long n)
{
	u8 *d = dst;

	while (n--)
		*d++ = (u8)c;
	return dst;
}
