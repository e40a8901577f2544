/*
 * The test guest's virtio-vsock driver. It finds the device in the
 * virtio-mmio slots, sets up its three queues with eight buffers each in a
 * fixed RAM area (VSOCK_AREA), and polls the used rings; the device's
 * interrupt only wakes the CPU from hlt. One connection at a time, on one
 * listening port, echoed back.
 */
#include "vsock.h"
#include "virtio_mmio.h"
#include "apic.h"
#include "layout.h"

/* virtio-mmio devices: slot n at VIRTIO_MMIO_BASE + n * 4 KiB, on the n-th
 * of brood-vmm's virtio interrupt lines (src/vmm/virtio/mmio_layout.hpp). */

#define VIRTIO_ID_VSOCK 19
#define DESC_F_WRITE 2

#define RX 0
#define TX 1
#define EVENT 2
#define QN 8
#define BUF_SIZE 1024
#define HDR_SIZE 44
#define MAX_PAYLOAD (BUF_SIZE - HDR_SIZE)

/* packet ops */
#define OP_REQUEST 1
#define OP_RESPONSE 2
#define OP_RST 3
#define OP_SHUTDOWN 4
#define OP_RW 5
#define OP_CREDIT_UPDATE 6
#define OP_CREDIT_REQUEST 7
#define HOST_CID 2
#define OUR_BUF_ALLOC 65536

struct desc {
	u64 addr;
	u32 len;
	u16 flags;
	u16 next;
};
struct avail {
	u16 flags;
	u16 idx;
	u16 ring[QN];
};
struct used {
	u16 flags;
	u16 idx;
	struct {
		u32 id;
		u32 len;
	} ring[QN];
};
struct queue {
	volatile struct desc *desc;
	volatile struct avail *avail;
	volatile struct used *used;
	u16 last_used;
};

/* The header, little endian as x86 is; packed to its 44 bytes. */
struct __attribute__((packed)) hdr {
	u64 src_cid, dst_cid;
	u32 src_port, dst_port, len;
	u16 type, op;
	u32 flags, buf_alloc, fwd_cnt;
};

static const u32 gsis[VIRTIO_MMIO_SLOTS] = { 5, 6, 7, 10, 11, 14 };

static u64 base;
static u64 cid;
static u64 resets;
static struct queue q[3];
/* the one connection */
static u32 listen_port, peer_port, fwd_cnt;
static int connected;
static u64 served, bytes;

#define barrier() __asm__ volatile("" : : : "memory")

static u32 rd(u32 reg) { return mmio_read32(base + reg); }
static void wr(u32 reg, u32 v) { mmio_write32(base + reg, v); }
static u8 *rx_buf(u32 i) { return (u8 *)(VSOCK_AREA + 0x9000 + (u64)i * BUF_SIZE); }
static u8 *tx_buf(void) { return (u8 *)(VSOCK_AREA + 0xb000); }
static u8 *event_buf(u32 i) { return (u8 *)(VSOCK_AREA + 0xc000 + (u64)i * 16); }

static u64 read_cid(void)
{
	return rd(R_CONFIG) | ((u64)rd(R_CONFIG + 4) << 32);
}

static void post(u32 qi, u16 d)
{
	volatile struct avail *a = q[qi].avail;

	a->ring[a->idx % QN] = d;
	barrier();
	a->idx = (u16)(a->idx + 1);
	barrier();
	wr(R_QUEUE_NOTIFY, qi);
}

static int setup_queue(u32 qi)
{
	u64 area = VSOCK_AREA + (u64)qi * 0x3000;
	u32 i;

	wr(R_QUEUE_SEL, qi);
	if (rd(R_QUEUE_NUM_MAX) < QN)
		return -1;
	q[qi].desc = (volatile struct desc *)area;
	q[qi].avail = (volatile struct avail *)(area + 0x1000);
	q[qi].used = (volatile struct used *)(area + 0x2000);
	q[qi].last_used = 0;
	memset((void *)area, 0, 0x3000);
	for (i = 0; i < QN; i++) {
		if (qi == RX)
			q[qi].desc[i].addr = (u64)rx_buf(i), q[qi].desc[i].len = BUF_SIZE;
		else if (qi == EVENT)
			q[qi].desc[i].addr = (u64)event_buf(i), q[qi].desc[i].len = 4;
		else
			q[qi].desc[i].addr = (u64)tx_buf(), q[qi].desc[i].len = 0;
		q[qi].desc[i].flags = qi == TX ? 0 : DESC_F_WRITE;
	}
	wr(R_QUEUE_NUM, QN);
	wr(R_QUEUE_DESC, (u32)area);
	wr(R_QUEUE_DESC + 4, 0);
	wr(R_QUEUE_DRIVER, (u32)(area + 0x1000));
	wr(R_QUEUE_DRIVER + 4, 0);
	wr(R_QUEUE_DEVICE, (u32)(area + 0x2000));
	wr(R_QUEUE_DEVICE + 4, 0);
	wr(R_QUEUE_READY, 1);
	return 0;
}

static const char *vsock_init(void)
{
	u32 slot, i;

	base = 0;
	for (slot = 0; slot < VIRTIO_MMIO_SLOTS && !base; slot++) {
		u64 b = VIRTIO_MMIO_BASE + (u64)slot * 0x1000;

		if (mmio_read32(b + R_MAGIC) == 0x74726976 && mmio_read32(b + R_VERSION) == 2 &&
		    mmio_read32(b + R_DEVICE_ID) == VIRTIO_ID_VSOCK)
			base = b;
	}
	if (!base)
		return "no virtio-vsock device";
	slot--;
	wr(R_STATUS, 0);
	wr(R_STATUS, S_ACK | S_DRIVER);
	wr(R_DEVICE_FEATURES_SEL, 1);
	if (!(rd(R_DEVICE_FEATURES) & 1))
		return "device lacks VIRTIO_F_VERSION_1";
	wr(R_DRIVER_FEATURES_SEL, 0);
	wr(R_DRIVER_FEATURES, 0);
	wr(R_DRIVER_FEATURES_SEL, 1);
	wr(R_DRIVER_FEATURES, 1);
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(R_STATUS) & S_FEATURES_OK))
		return "features refused";
	for (i = 0; i < 3; i++)
		if (setup_queue(i))
			return "queue too small";
	wr(R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	for (i = 0; i < QN; i++) {
		post(RX, (u16)i);
		post(EVENT, (u16)i);
	}
	ioapic_route(IOAPIC_BASE, gsis[slot], VEC_VIRTIO, 0);
	cid = read_cid();
	connected = 0;
	return 0;
}

static int tx_done(void)
{
	return q[TX].used->idx == q[TX].last_used;
}

/* Sends one packet on the connection (or answers `to` when given) and waits for the device to take it. */
static void send(u32 op, const struct hdr *to, const u8 *data, u32 len)
{
	struct hdr *h = (struct hdr *)tx_buf();
	u32 i;

	h->src_cid = cid;
	h->dst_cid = HOST_CID;
	h->src_port = to ? to->dst_port : listen_port;
	h->dst_port = to ? to->src_port : peer_port;
	h->len = len;
	h->type = 1;
	h->op = (u16)op;
	h->flags = 0;
	h->buf_alloc = OUR_BUF_ALLOC;
	h->fwd_cnt = fwd_cnt;
	if (len)
		memcpy(tx_buf() + HDR_SIZE, data, len);
	q[TX].desc[0].len = HDR_SIZE + len;
	q[TX].last_used = (u16)(q[TX].last_used + 1);
	post(TX, 0);
	/* Spin, not wait_until: this runs inside serve_step, under its timer.
	 * The device takes it on its own thread at once. */
	for (i = 0; i < 50000000 && !tx_done(); i++)
		__asm__ volatile("pause");
}

static void ack_interrupt(void)
{
	u32 s = rd(R_INTERRUPT_STATUS);

	if (s)
		wr(R_INTERRUPT_ACK, s);
}

static void poll_events(void)
{
	while (q[EVENT].used->idx != q[EVENT].last_used) {
		u32 id = q[EVENT].used->ring[q[EVENT].last_used % QN].id;

		q[EVENT].last_used = (u16)(q[EVENT].last_used + 1);
		if (id < QN && *(volatile u32 *)event_buf(id) == 0) {
			/* TRANSPORT_RESET: connections are gone, the CID may differ */
			resets++;
			served += connected; /* it ended, as far as the guest is concerned */
			connected = 0;
			cid = read_cid();
		}
		post(EVENT, (u16)(id % QN));
	}
}

static void handle(const struct hdr *h, const u8 *data)
{
	int ours = h->dst_cid == cid && h->src_cid == HOST_CID && h->dst_port == listen_port &&
		   listen_port != 0;
	int this_conn = ours && connected && h->src_port == peer_port;

	if (h->op == OP_REQUEST && ours && !connected) {
		connected = 1;
		peer_port = h->src_port;
		fwd_cnt = 0;
		send(OP_RESPONSE, 0, 0, 0);
	} else if (this_conn && h->op == OP_RW) {
		u32 n = h->len <= MAX_PAYLOAD ? h->len : MAX_PAYLOAD;

		fwd_cnt += n;
		bytes += n;
		send(OP_RW, 0, data, n);
	} else if (this_conn && h->op == OP_SHUTDOWN) {
		send(OP_RST, 0, 0, 0);
		connected = 0;
		served++;
	} else if (this_conn && h->op == OP_RST) {
		connected = 0;
		served++;
	} else if (this_conn && h->op == OP_CREDIT_REQUEST) {
		send(OP_CREDIT_UPDATE, 0, 0, 0);
	} else if (this_conn && h->op == OP_CREDIT_UPDATE) {
		/* the host's credit is far more than an echo needs */
	} else if (h->op != OP_RST) {
		send(OP_RST, h, 0, 0);
	}
}

static void poll_rx(void)
{
	while (q[RX].used->idx != q[RX].last_used) {
		u32 id = q[RX].used->ring[q[RX].last_used % QN].id % QN;
		u32 len = q[RX].used->ring[q[RX].last_used % QN].len;

		q[RX].last_used = (u16)(q[RX].last_used + 1);
		if (len >= HDR_SIZE && len <= BUF_SIZE) {
			struct hdr h;

			memcpy(&h, rx_buf(id), HDR_SIZE);
			if (h.len <= len - HDR_SIZE)
				handle(&h, rx_buf(id) + HDR_SIZE);
		}
		post(RX, (u16)id);
	}
}

static u64 serve_goal;

static int serve_step(void)
{
	ack_interrupt();
	poll_events();
	poll_rx();
	return served >= serve_goal;
}

static void say_state(struct line *out, const char *what)
{
	line_str(out, what);
	line_str(out, " cid=");
	line_dec(out, cid);
	line_str(out, " resets=");
	line_dec(out, resets);
}

void vsock_command(struct line *out, int argc, char **argv)
{
	u64 port, conns;

	if (argc == 2 && str_eq(argv[1], "init")) {
		const char *err = vsock_init();

		if (err) {
			line_str(out, "error: ");
			line_str(out, err);
			return;
		}
		say_state(out, "vsock ready");
		return;
	}
	if (!base) {
		line_str(out, "error: vsock is not initialised");
		return;
	}
	if (argc == 2 && str_eq(argv[1], "cid")) {
		serve_step();
		say_state(out, "vsock");
		return;
	}
	if (argc == 4 && str_eq(argv[1], "serve")) {
		if (parse_u64(argv[2], &port) || parse_u64(argv[3], &conns) || port == 0 || port > 0xffffffffu) {
			line_str(out, "error: bad number");
			return;
		}
		serve_step(); /* a pending reset first: the CID said below is current */
		listen_port = (u32)port;
		served = bytes = 0;
		serve_goal = conns;
		say_state(out, "vsock listening");
		line_str(out, " port=");
		line_dec(out, port);
		line_send(out);
		wait_until(serve_step, 30000);
		listen_port = 0;
		line_str(out, served >= conns ? "vsock served=" : "error: vsock timed out served=");
		line_dec(out, served);
		line_str(out, " bytes=");
		line_dec(out, bytes);
		return;
	}
	line_str(out, "error: usage: vsock init | vsock cid | vsock serve <port> <connections>");
}
