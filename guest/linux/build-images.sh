#!/usr/bin/env bash
# build-images.sh OUT ASSETS AGENT
#
# Builds the Linux guest's images that carry brood-agent, from the assets of
# scripts/fetch-guest-assets.sh and the built agent:
#
#   OUT/initrd-agent.cpio.gz  ASSETS/initrd.cpio.gz with a second archive
#                             appended that adds /bin/brood-agent (the kernel
#                             unpacks concatenated archives in turn); its /init
#                             starts the agent before the ready line
#   OUT/rootfs.ext4           an ext4 root disk: busybox, its applet links,
#                             /bin/brood-agent, /sbin/init (rootfs-init) and
#                             /etc/inittab (rootfs-inittab), for root=/dev/vda
#                             on virtio-blk with the initrd above
#
# Needs cpio, gzip, strip (binutils) and mke2fs (e2fsprogs); no root. Outputs
# are written aside and renamed into place.
set -euo pipefail

die() { echo "guest-images: error: $*" >&2; exit 1; }
[ $# -eq 3 ] || die "usage: $0 OUT ASSETS AGENT"
OUT=$1 ASSETS=$2 AGENT=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for tool in cpio gzip strip mke2fs; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found; run scripts/install-deps.sh"
done
[ -s "$ASSETS/initrd.cpio.gz" ] || die "no $ASSETS/initrd.cpio.gz; run scripts/fetch-guest-assets.sh $ASSETS"
[ -x "$AGENT" ] || die "no brood-agent at $AGENT"

mkdir -p "$OUT"
WORK=$(mktemp -d "$OUT/.build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# 1. The agent's archive: bin/brood-agent, stripped, root-owned, mtime 0.
mkdir -p "$WORK/agent/bin"
strip -o "$WORK/agent/bin/brood-agent" "$AGENT"
chmod 0755 "$WORK/agent/bin/brood-agent"
find "$WORK/agent" -exec touch -h -d @0 {} +
(cd "$WORK/agent" && find . -mindepth 1 | LC_ALL=C sort |
  cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n >"$WORK/agent.cpio.gz"
cat "$ASSETS/initrd.cpio.gz" "$WORK/agent.cpio.gz" >"$WORK/initrd-agent.cpio.gz"

# 2. The root disk: the initramfs's tree without its /init and modules,
# plus the agent and the disk's own /sbin/init and /etc/inittab.
R=$WORK/root
mkdir -p "$R"
(cd "$R" && gzip -dc "$ASSETS/initrd.cpio.gz" | cpio --quiet -idm --no-absolute-filenames) ||
  die "unpacking $ASSETS/initrd.cpio.gz failed"
rm -rf "$R/init" "$R/newroot" "$R/lib/modules/brood"
cp "$WORK/agent/bin/brood-agent" "$R/bin/brood-agent"
rm -f "$R/sbin/init"
cp "$here/rootfs-init" "$R/sbin/init"
chmod 0755 "$R/sbin/init"
mkdir -p "$R/etc"
cp "$here/rootfs-inittab" "$R/etc/inittab"
mkdir -p "$R/dev" "$R/proc" "$R/sys" "$R/tmp"
# 64 MiB: room for the guest to write; the image is sparse on the host.
mke2fs -q -F -t ext4 -L brood-root -d "$R" -E root_owner=0:0 "$WORK/rootfs.ext4" 64M ||
  die "mke2fs failed"

mv -f "$WORK/initrd-agent.cpio.gz" "$OUT/initrd-agent.cpio.gz"
mv -f "$WORK/rootfs.ext4" "$OUT/rootfs.ext4"
echo "guest-images: $OUT/initrd-agent.cpio.gz $OUT/rootfs.ext4"
