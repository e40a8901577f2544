#include "commands.h"
#include "apic.h"
#include "boot.h"
#include "fmt.h"
#include "interrupts.h"
#include "layout.h"
#include "memtest.h"
#include "smp.h"
#include "virtio_blk.h"
#include "vsock.h"
#include "virtio_net.h"

#define MAX_ARGS 4
#define MAX_SLEEP_MS 3600000ul
#define MAX_LINES 1000000ul

static u64 counter; /* `count`: lives in guest RAM, so it survives snapshots */

static void error(struct line *out, const char *msg)
{
	line_str(out, "error: ");
	line_str(out, msg);
}

static void cmd_memtest(struct line *out, int argc, char **argv, int verify)
{
	struct memtest_result r;
	u64 mib, seed = 0;

	if (argc < 2 || argc > 3) {
		error(out, verify ? "usage: verify <MiB> [seed]" : "usage: touch <MiB> [seed]");
		return;
	}
	if (parse_u64(argv[1], &mib) || (argc == 3 && parse_u64(argv[2], &seed))) {
		error(out, "bad number");
		return;
	}
	if (mib > boot.test_pages / 256) {
		error(out, "does not fit in RAM: the test region holds ");
		line_dec(out, boot.test_pages / 256);
		line_str(out, " MiB");
		return;
	}
	memtest_run(mib * 256, seed, verify, &r);
	if (r.bad) {
		line_str(out, "bad page=");
		line_dec(out, r.bad_page);
		line_str(out, " expected=");
		line_hex(out, r.expected);
		line_str(out, " got=");
		line_hex(out, r.got);
		return;
	}
	line_str(out, verify ? "ok pages=" : "touched pages=");
	line_dec(out, r.pages);
	line_str(out, " checksum=");
	line_hex(out, r.checksum);
}

/* The one number a command takes, at most `max`: 0, or 1 after answering
 * with `usage` or "bad number". */
static int one_number(struct line *out, int argc, char **argv, u64 max, const char *usage, u64 *n)
{
	if (argc != 2) {
		error(out, usage);
		return 1;
	}
	if (parse_u64(argv[1], n) || *n > max) {
		error(out, "bad number");
		return 1;
	}
	return 0;
}

static void cmd_sleep(struct line *out, int argc, char **argv)
{
	u64 ms;

	if (one_number(out, argc, argv, MAX_SLEEP_MS, "usage: sleep <ms>", &ms))
		return;
	wait_until(NULL, ms);
	line_str(out, "slept ms=");
	line_dec(out, ms);
}

/* `lines <n>`: n numbered lines, sent as fast as the serial port takes
 * them (a VM that prints without pause, for snapshots taken mid-output). */
static void cmd_lines(struct line *out, int argc, char **argv)
{
	u64 n;

	if (one_number(out, argc, argv, MAX_LINES, "usage: lines <n>", &n))
		return;
	for (u64 i = 1; i <= n; ++i) {
		line_str(out, "line ");
		line_dec(out, i);
		line_str(out, " abcdefghijklmnopqrstuvwxyz0123456789");
		line_send(out);
	}
	line_str(out, "lines done");
}

static void cmd_disk_io(struct line *out, int argc, char **argv, int verify)
{
	u64 sector, count, seed;

	if (argc != 4 || parse_u64(argv[1], &sector) || parse_u64(argv[2], &count) || parse_u64(argv[3], &seed)) {
		error(out, verify ? "usage: dverify <sector> <count> <seed>" : "usage: dwrite <sector> <count> <seed>");
		return;
	}
	if (verify)
		blk_verify_command(out, sector, count, seed);
	else
		blk_write_command(out, sector, count, seed);
}

static int split(char *s, char **argv)
{
	int argc = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			*s++ = 0;
		if (!*s)
			return argc;
		if (argc == MAX_ARGS)
			return MAX_ARGS + 1;
		argv[argc++] = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
}

void command_run(char *s)
{
	char *argv[MAX_ARGS];
	int argc = split(s, argv);
	struct line out;

	out.len = 0;
	if (argc == 0)
		return; /* empty line, e.g. between \r and \n: no answer */
	if (argc > MAX_ARGS) {
		error(&out, "too many arguments");
	} else if (str_eq(argv[0], "ping")) {
		line_str(&out, argc == 1 ? "pong" : "error: usage: ping");
	} else if (str_eq(argv[0], "cpus")) {
		if (argc == 1)
			smp_cpus_command(&out);
		else
			error(&out, "usage: cpus");
	} else if (str_eq(argv[0], "touch") || str_eq(argv[0], "verify")) {
		cmd_memtest(&out, argc, argv, argv[0][0] == 'v');
	} else if (str_eq(argv[0], "count")) {
		if (argc == 1) {
			line_str(&out, "count ");
			line_dec(&out, ++counter);
		} else {
			error(&out, "usage: count");
		}
	} else if (str_eq(argv[0], "sleep")) {
		cmd_sleep(&out, argc, argv);
	} else if (str_eq(argv[0], "lines")) {
		cmd_lines(&out, argc, argv);
	} else if (str_eq(argv[0], "disk")) {
		if (argc == 1)
			blk_init_command(&out);
		else
			error(&out, "usage: disk");
	} else if (str_eq(argv[0], "dwrite") || str_eq(argv[0], "dverify")) {
		cmd_disk_io(&out, argc, argv, argv[0][1] == 'v');
	} else if (str_eq(argv[0], "dbad")) {
		if (argc == 1)
			blk_hostile_command(&out);
		else
			error(&out, "usage: dbad");
	} else if (str_eq(argv[0], "dflush")) {
		if (argc == 1)
			blk_flush_command(&out);
		else
			error(&out, "usage: dflush");
	} else if (str_eq(argv[0], "vsock")) {
		vsock_command(&out, argc, argv);
	} else if (str_eq(argv[0], "net")) {
		if (argc == 1)
			net_init_command(&out);
		else
			error(&out, "usage: net");
	} else if (str_eq(argv[0], "ntx")) {
		u64 len, seed;

		if (argc != 3 || parse_u64(argv[1], &len) || parse_u64(argv[2], &seed))
			error(&out, "usage: ntx <len> <seed>");
		else
			net_tx_command(&out, len, seed);
	} else if (str_eq(argv[0], "nrx")) {
		if (argc == 1)
			net_rx_command(&out);
		else
			error(&out, "usage: nrx");
	} else if (str_eq(argv[0], "poweroff")) {
		power_off();
	} else if (str_eq(argv[0], "triplefault")) {
		triple_fault();
	} else if (str_eq(argv[0], "reboot")) {
		outb(I8042_CMD_PORT, 0xFE);
		halt_forever();
	} else {
		error(&out, "unknown command");
	}
	line_send(&out);
}
