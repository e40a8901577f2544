/*
 * A minimal virtio-mmio network driver for the test guest: finds the
 * network device in any virtio-mmio slot, one receive buffer and one
 * transmit buffer, polled (its interrupt line stays masked).
 */
#ifndef BROOD_GUEST_VIRTIO_NET_H
#define BROOD_GUEST_VIRTIO_NET_H

#include "fmt.h"

/* `net`: finds and initialises the device; answers with its MAC. */
void net_init_command(struct line *out);
/*
 * `ntx <len> <seed>`: sends a broadcast frame of ethertype 0x88b5 whose
 * `len` payload bytes are (seed + i) & 0xff.
 */
void net_tx_command(struct line *out, u64 len, u64 seed);
/* `nrx`: waits for one frame; answers with its length, type and byte sum. */
void net_rx_command(struct line *out);

#endif
