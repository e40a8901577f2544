#include "virtio_net.h"
#include "virtio_mmio.h"




#define F_MAC (1u << 5)
#define F_VERSION_1_HIGH 1u /* bit 32 */

#define QSIZE 8
#define D_WRITE 2
#define HDR 12 /* struct virtio_net_hdr with VERSION_1 */
#define FRAME_MAX 1514
#define ETH_HDR 14
#define POLL_CYCLES 200000000000ul /* about a minute, even on a slow host */

struct desc {
	u64 addr;
	u32 len;
	u16 flags, next;
};

struct vq {
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
	} used __attribute__((aligned(4096)));
} __attribute__((aligned(4096)));

static struct vq rxq, txq;
static u8 rx_buf[HDR + FRAME_MAX] __attribute__((aligned(64)));
static u8 tx_buf[HDR + FRAME_MAX] __attribute__((aligned(64)));
static u64 base;
static u8 mac[6];
static int ready;
static u16 rx_last, tx_last; /* in guest RAM: carry over a snapshot */

static u32 rd(u32 reg)
{
	return mmio_read32(base + reg);
}

static void wr(u32 reg, u32 v)
{
	mmio_write32(base + reg, v);
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

static void setup_queue(u32 index, struct vq *q)
{
	memset(q, 0, sizeof(*q));
	wr(R_QUEUE_SEL, index);
	wr(R_QUEUE_NUM, QSIZE);
	wr64(R_QUEUE_DESC, (u64)&q->desc);
	wr64(R_QUEUE_DRIVER, (u64)&q->avail);
	wr64(R_QUEUE_DEVICE, (u64)&q->used);
	wr(R_QUEUE_READY, 1);
}

static void post(struct vq *q, u32 index, u8 *buf, u32 len, u16 flags)
{
	q->desc[0] = (struct desc){(u64)buf, len, flags, 0};
	q->avail.ring[q->avail.idx % QSIZE] = 0;
	barrier();
	q->avail.idx++;
	barrier();
	wr(R_QUEUE_NOTIFY, index);
}

/* Waits for the next used entry; its length, or -1 on timeout. */
static long wait_used(struct vq *q, u16 *last)
{
	u64 start = rdtsc();
	long len;

	while (*(volatile u16 *)&q->used.idx == *last) {
		if (rdtsc() - start > POLL_CYCLES)
			return -1;
		__asm__ volatile("pause");
	}
	barrier();
	len = q->used.ring[*last % QSIZE].len;
	(*last)++;
	return len;
}

static const char *init(void)
{
	u32 slot, i;

	base = 0;
	for (slot = 0; slot < VIRTIO_MMIO_SLOTS; slot++) {
		u64 b = VIRTIO_MMIO_BASE + slot * 0x1000ul;

		if (mmio_read32(b + R_MAGIC) == 0x74726976 && mmio_read32(b + R_VERSION) == 2 &&
		    mmio_read32(b + R_DEVICE_ID) == 1) {
			base = b;
			break;
		}
	}
	if (!base)
		return "no network device";
	wr(R_STATUS, 0);
	wr(R_STATUS, S_ACK);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DEVICE_FEATURES_SEL, 0);
	if (!(rd(R_DEVICE_FEATURES) & F_MAC))
		return "no VIRTIO_NET_F_MAC";
	wr(R_DEVICE_FEATURES_SEL, 1);
	if (!(rd(R_DEVICE_FEATURES) & F_VERSION_1_HIGH))
		return "no VIRTIO_F_VERSION_1";
	wr(R_DRIVER_FEATURES_SEL, 0);
	wr(R_DRIVER_FEATURES, F_MAC);
	wr(R_DRIVER_FEATURES_SEL, 1);
	wr(R_DRIVER_FEATURES, F_VERSION_1_HIGH);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(R_STATUS) & S_FEATURES_OK))
		return "features refused";
	for (i = 0; i < 2; i++) {
		wr(R_QUEUE_SEL, i);
		if (rd(R_QUEUE_NUM_MAX) < QSIZE)
			return "queue too small";
	}
	setup_queue(0, &rxq);
	setup_queue(1, &txq);
	rx_last = tx_last = 0;
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	if (rd(R_STATUS) & S_NEEDS_RESET)
		return "device needs reset";
	{
		u32 lo = rd(R_CONFIG), hi = rd(R_CONFIG + 4);

		for (i = 0; i < 4; i++)
			mac[i] = (u8)(lo >> (8 * i));
		mac[4] = (u8)hi;
		mac[5] = (u8)(hi >> 8);
	}
	post(&rxq, 0, rx_buf, sizeof(rx_buf), D_WRITE);
	ready = 1;
	return NULL;
}

static void line_mac(struct line *out, const u8 *m)
{
	static const char hex[] = "0123456789abcdef";
	char s[18];
	u32 i;

	for (i = 0; i < 6; i++) {
		s[i * 3] = hex[m[i] >> 4];
		s[i * 3 + 1] = hex[m[i] & 15];
		s[i * 3 + 2] = i < 5 ? ':' : 0;
	}
	line_str(out, s);
}

void net_init_command(struct line *out)
{
	const char *err = init();

	if (err) {
		line_str(out, "error: ");
		line_str(out, err);
		return;
	}
	line_str(out, "net mac=");
	line_mac(out, mac);
}

void net_tx_command(struct line *out, u64 len, u64 seed)
{
	u64 i;
	u8 *f = tx_buf + HDR;

	if (!ready) {
		line_str(out, "error: run net first");
		return;
	}
	if (len > FRAME_MAX - ETH_HDR) {
		line_str(out, "error: len must be 0..1500");
		return;
	}
	memset(tx_buf, 0, HDR);
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (i = 0; i < len; i++)
		f[ETH_HDR + i] = (u8)(seed + i);
	post(&txq, 1, tx_buf, (u32)(HDR + ETH_HDR + len), 0);
	line_str(out, wait_used(&txq, &tx_last) < 0 ? "ntx timeout" : "ntx ok");
}

void net_rx_command(struct line *out)
{
	long len;
	u64 sum = 0;
	long i;
	const u8 *f = rx_buf + HDR;

	if (!ready) {
		line_str(out, "error: run net first");
		return;
	}
	len = wait_used(&rxq, &rx_last);
	if (len < 0) {
		line_str(out, "nrx timeout");
		return;
	}
	len -= HDR;
	if (len < ETH_HDR) {
		line_str(out, "nrx short");
	} else {
		for (i = ETH_HDR; i < len; i++)
			sum += f[i];
		line_str(out, "nrx len=");
		line_dec(out, (u64)len);
		line_str(out, " src=");
		line_mac(out, f + 6);
		line_str(out, " type=");
		line_dec(out, (u64)((f[12] << 8) | f[13]));
		line_str(out, " sum=");
		line_dec(out, sum);
	}
	post(&rxq, 0, rx_buf, sizeof(rx_buf), D_WRITE);
}
