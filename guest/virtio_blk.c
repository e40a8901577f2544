#include "virtio_blk.h"
#include "virtio_mmio.h"




#define F_RO (1u << 5)
#define F_VERSION_1_HIGH 1u /* bit 32 */

#define QSIZE 8
#define D_NEXT 1
#define D_WRITE 2

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4

#define POLL_CYCLES 200000000000ul /* about a minute, even on a slow host */

struct desc {
	u64 addr;
	u32 len;
	u16 flags, next;
};

struct request {
	u32 type, reserved;
	u64 sector;
};

static struct {
	struct desc desc[QSIZE] __attribute__((aligned(16)));
	struct {
		u16 flags, idx, ring[QSIZE], used_event;
	} avail __attribute__((aligned(2)));
	struct {
		u16 flags, idx;
		struct {
			u32 id, len;
		} ring[QSIZE];
		u16 avail_event;
	} used __attribute__((aligned(4)));
} q __attribute__((aligned(4096)));

static struct request req;
static volatile u8 req_status;
static u8 buffer[BLK_MAX_SECTORS * 512] __attribute__((aligned(4096)));
static int ready;
static int read_only;
static u64 capacity;
static u16 last_used; /* lives in guest RAM: carries over a snapshot */

static u32 rd(u32 reg)
{
	return mmio_read32(VIRTIO_MMIO_BASE + reg);
}

static void wr(u32 reg, u32 v)
{
	mmio_write32(VIRTIO_MMIO_BASE + reg, v);
}

static void wr64(u32 reg, u64 v)
{
	wr(reg, (u32)v);
	wr(reg + 4, (u32)(v >> 32));
}

static void barrier(void)
{
	__asm__ volatile("mfence" : : : "memory");
}

static const char *init(void)
{
	u32 features;

	if (rd(R_MAGIC) != 0x74726976 || rd(R_VERSION) != 2)
		return "no virtio-mmio device";
	if (rd(R_DEVICE_ID) != 2)
		return "not a block device";
	wr(R_STATUS, 0);
	wr(R_STATUS, S_ACK);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DEVICE_FEATURES_SEL, 0);
	features = rd(R_DEVICE_FEATURES);
	wr(R_DEVICE_FEATURES_SEL, 1);
	if (!(rd(R_DEVICE_FEATURES) & F_VERSION_1_HIGH))
		return "no VIRTIO_F_VERSION_1";
	read_only = (features & F_RO) != 0;
	wr(R_DRIVER_FEATURES_SEL, 0);
	wr(R_DRIVER_FEATURES, features & F_RO);
	wr(R_DRIVER_FEATURES_SEL, 1);
	wr(R_DRIVER_FEATURES, F_VERSION_1_HIGH);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(R_STATUS) & S_FEATURES_OK))
		return "features refused";
	wr(R_QUEUE_SEL, 0);
	if (rd(R_QUEUE_NUM_MAX) < QSIZE)
		return "queue too small";
	memset(&q, 0, sizeof(q));
	last_used = 0;
	wr(R_QUEUE_NUM, QSIZE);
	wr64(R_QUEUE_DESC, (u64)&q.desc);
	wr64(R_QUEUE_DRIVER, (u64)&q.avail);
	wr64(R_QUEUE_DEVICE, (u64)&q.used);
	wr(R_QUEUE_READY, 1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	if (rd(R_STATUS) & S_NEEDS_RESET)
		return "device needs reset";
	capacity = (u64)rd(R_CONFIG) | ((u64)rd(R_CONFIG + 4) << 32);
	ready = 1;
	return NULL;
}

/* One request of `len` data bytes; returns the status byte or -1. */
static int submit(u32 type, u64 sector, u32 len)
{
	u64 start;
	u16 n = 0;

	req.type = type;
	req.reserved = 0;
	req.sector = sector;
	req_status = 0xff;
	q.desc[0] = (struct desc){(u64)&req, sizeof(req), D_NEXT, 1};
	if (len) {
		q.desc[1] = (struct desc){(u64)buffer, len, (u16)(D_NEXT | (type == T_IN ? D_WRITE : 0)), 2};
		n = 1;
	}
	q.desc[1 + n] = (struct desc){(u64)&req_status, 1, D_WRITE, 0};
	q.avail.ring[q.avail.idx % QSIZE] = 0;
	barrier();
	q.avail.idx++;
	barrier();
	wr(R_QUEUE_NOTIFY, 0);
	start = rdtsc();
	while (*(volatile u16 *)&q.used.idx == last_used) {
		if (rdtsc() - start > POLL_CYCLES)
			return -1;
		__asm__ volatile("pause");
	}
	barrier();
	last_used++;
	return req_status;
}

static u8 pattern(u64 sector, u64 i, u64 seed)
{
	u64 x = (sector * 512 + i) * 0x9E3779B97F4A7C15ul + seed * 0xD1B54A32D192ED03ul;

	return (u8)(x >> 56);
}

static int check_args(struct line *out, u64 sector, u64 count)
{
	if (!ready) {
		line_str(out, "error: run disk first");
		return 0;
	}
	if (count == 0 || count > BLK_MAX_SECTORS) {
		line_str(out, "error: count must be 1..64");
		return 0;
	}
	(void)sector; /* the device checks the range: tests ask for IOERR */
	return 1;
}

static void report(struct line *out, const char *what, int status)
{
	if (status == 0) {
		line_str(out, what);
		line_str(out, " ok");
		return;
	}
	line_str(out, what);
	line_str(out, status < 0 ? " timeout" : " status=");
	if (status > 0)
		line_dec(out, (u64)status);
}

void blk_init_command(struct line *out)
{
	const char *err = init();

	if (err) {
		line_str(out, "error: ");
		line_str(out, err);
		return;
	}
	line_str(out, "disk sectors=");
	line_dec(out, capacity);
	line_str(out, read_only ? " ro" : " rw");
}

void blk_write_command(struct line *out, u64 sector, u64 count, u64 seed)
{
	u64 i;

	if (!check_args(out, sector, count))
		return;
	for (i = 0; i < count * 512; i++)
		buffer[i] = pattern(sector, i, seed);
	report(out, "dwrite", submit(T_OUT, sector, (u32)(count * 512)));
}

void blk_verify_command(struct line *out, u64 sector, u64 count, u64 seed)
{
	u64 i;
	int status;

	if (!check_args(out, sector, count))
		return;
	memset(buffer, 0, count * 512);
	status = submit(T_IN, sector, (u32)(count * 512));
	if (status != 0) {
		report(out, "dverify", status);
		return;
	}
	for (i = 0; i < count * 512; i++) {
		if (buffer[i] != pattern(sector, i, seed)) {
			line_str(out, "dverify bad byte=");
			line_dec(out, i);
			return;
		}
	}
	line_str(out, "dverify ok");
}

void blk_flush_command(struct line *out)
{
	if (!ready) {
		line_str(out, "error: run disk first");
		return;
	}
	report(out, "dflush", submit(T_FLUSH, 0, 0));
}

void blk_hostile_command(struct line *out)
{
	u64 start;

	if (!ready) {
		line_str(out, "error: run disk first");
		return;
	}
	/* A chain that loops on itself: the device must stop, not spin. */
	q.desc[0] = (struct desc){(u64)&req, sizeof(req), D_NEXT, 0};
	q.avail.ring[q.avail.idx % QSIZE] = 0;
	barrier();
	q.avail.idx++;
	barrier();
	wr(R_QUEUE_NOTIFY, 0);
	start = rdtsc();
	while (!(rd(R_STATUS) & S_NEEDS_RESET)) {
		if (rdtsc() - start > POLL_CYCLES) {
			line_str(out, "dbad timeout");
			return;
		}
		__asm__ volatile("pause");
	}
	ready = 0; /* `disk` resets and initialises it again */
	line_str(out, "dbad needs-reset config-interrupt=");
	line_dec(out, (rd(0x060) >> 1) & 1);
}
