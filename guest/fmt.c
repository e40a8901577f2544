#include "fmt.h"
#include "serial.h"

void line_str(struct line *l, const char *s)
{
	while (*s && l->len < LINE_MAX)
		l->buf[l->len++] = *s++;
}

void line_dec(struct line *l, u64 v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && l->len < LINE_MAX)
		l->buf[l->len++] = tmp[--n];
}

void line_hex(struct line *l, u64 v)
{
	static const char digits[] = "0123456789abcdef";

	if (l->len + 18 > LINE_MAX)
		return;
	l->buf[l->len++] = '0';
	l->buf[l->len++] = 'x';
	for (int shift = 60; shift >= 0; shift -= 4)
		l->buf[l->len++] = digits[(v >> shift) & 15];
}

void line_send(struct line *l)
{
	if (l->len == LINE_MAX)
		l->len--;
	l->buf[l->len++] = '\n';
	serial_write(l->buf, l->len);
	l->len = 0;
}

void say(const char *s)
{
	struct line l; /* not zero-filled: that would cost 500 instructions */

	l.len = 0;
	line_str(&l, s);
	line_send(&l);
}

int str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

int parse_u64(const char *s, u64 *out)
{
	u64 v = 0;
	u64 base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -1;
	for (; *s; s++) {
		u64 d;
		if (*s >= '0' && *s <= '9')
			d = (u64)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (u64)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (u64)(*s - 'A' + 10);
		else
			return -1;
		if (v > (~0UL - d) / base)
			return -1;
		v = v * base + d;
	}
	*out = v;
	return 0;
}
