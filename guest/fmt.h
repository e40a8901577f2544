/* A line builder for the guest's answers, and the few string helpers it needs. */
#ifndef BROOD_GUEST_FMT_H
#define BROOD_GUEST_FMT_H

#include "arch.h"

#define LINE_MAX 512

struct line {
	u32 len;
	char buf[LINE_MAX];
};

void line_str(struct line *l, const char *s);
void line_dec(struct line *l, u64 v);
void line_hex(struct line *l, u64 v); /* "0x" and 16 digits */
/* Sends the line and a newline to the serial port, then empties it. */
void line_send(struct line *l);
/* Sends one constant line. */
void say(const char *s);

int str_eq(const char *a, const char *b);
/* Parses a whole token: decimal, or hexadecimal with 0x. 0 on success. */
int parse_u64(const char *s, u64 *out);

/* lib.c */
void *memcpy(void *dst, const void *src, unsigned long n);
void *memset(void *dst, int c, unsigned long n);

#endif
