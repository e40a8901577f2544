/*
 * A small virtio-vsock driver (virtio-mmio, version 2) for the test guest,
 * and its commands: enough to accept host connections on one port and echo
 * what arrives, before and after a snapshot. See docs/test-guest.md.
 */
#ifndef BROOD_GUEST_VSOCK_H
#define BROOD_GUEST_VSOCK_H

#include "fmt.h"

/* "vsock init", "vsock cid", "vsock serve <port> <connections>". */
void vsock_command(struct line *out, int argc, char **argv);

#endif
