/*
 * A minimal virtio-mmio block driver for the test guest: the first
 * virtio-mmio slot brood-vmm gives (VIRTIO_MMIO_BASE), one 8-entry queue,
 * one request at a time, polled (its interrupt line stays masked).
 */
#ifndef BROOD_GUEST_VIRTIO_BLK_H
#define BROOD_GUEST_VIRTIO_BLK_H

#include "fmt.h"

#define BLK_MAX_SECTORS 64 /* per command: the driver's bounce buffer */

/* `disk`: finds and initialises the device; answers with its capacity. */
void blk_init_command(struct line *out);
/*
 * `dwrite <sector> <count> <seed>` writes a pattern; `dverify` reads the
 * sectors back and compares them with the pattern; `dflush` flushes.
 */
void blk_write_command(struct line *out, u64 sector, u64 count, u64 seed);
void blk_verify_command(struct line *out, u64 sector, u64 count, u64 seed);
void blk_flush_command(struct line *out);
/* `dbad`: makes a looping descriptor chain available and waits for the
 * device to ask for a reset. */
void blk_hostile_command(struct line *out);

#endif
