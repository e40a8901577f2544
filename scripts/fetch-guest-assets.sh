#!/usr/bin/env bash
# fetch-guest-assets.sh [DIR]
#
# Fetches the Linux guest used by brood's real-Linux tests and demo from
# Debian's package registry and builds the files brood-vmm boots:
#
#   DIR/vmlinuz         Debian 12 cloud kernel, bzImage (Linux x86 boot protocol)
#   DIR/vmlinux         the uncompressed ELF kernel carried inside that bzImage
#   DIR/initrd.cpio.gz  busybox initramfs: /init loads the guest's virtio modules,
#                       switches to root=/dev/vdX when asked, starts
#                       /bin/brood-agent if present, prints one "ready" line, then a shell
#   DIR/busybox         the static busybox in it (the root disk image is built from it)
#   DIR/modules/        kernel modules from the same package that the hardware-KVM
#                       test lane loads into its L1 kernel (kvm, kvm-amd, irqbypass;
#                       tun and bridge for guest networks)
#   DIR/guest-modules/  the guest's virtio modules (virtio-mmio, -blk, -net, vsock,
#                       -rng) with their dependencies, and load-order
#   DIR/VERSION         key=value lines: kernel release, package versions,
#                       compression, pvh=yes|no, pvh_entry, file sizes
#
# DIR defaults to assets/ at the repository root. Runs on Debian 12 with only
# bash, coreutils, dpkg/apt, cpio, gzip and the decompressor the kernel needs
# (lz4 for the current cloud kernel; xz, zstd, gzip, bzip2 are also handled),
# and objcopy (binutils) to read module dependencies.
#
# Cached: when every output exists, is non-empty and has the size recorded in
# VERSION, and VERSION was written by this very script (its recipe_sha256),
# the script prints where the files are and exits. Delete DIR (or any file in
# it) to rebuild; a changed script rebuilds by itself. Outputs are built in a
# temporary directory inside DIR and renamed into place, VERSION last, so an
# interrupted run never leaves a half-written file or a VERSION that
# describes other files.
set -euo pipefail

say() { echo "assets: $*"; }
die() { echo "assets: error: $*" >&2; exit 1; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
DIR=${1:-$repo_root/assets}
[ $# -le 1 ] || die "usage: $0 [DIR]"
# The outputs follow from this script (the initramfs' /init is written
# below): assets an older version of it built are rebuilt.
RECIPE=$(sha256sum "${BASH_SOURCE[0]}") || die "cannot hash ${BASH_SOURCE[0]}"
RECIPE=${RECIPE%% *}

OUTPUTS=(vmlinuz vmlinux initrd.cpio.gz busybox guest-modules/load-order VERSION)
# Modules kept from the kernel package, in load order (paths below kernel/).
MODULES=(virt/lib/irqbypass.ko arch/x86/kvm/kvm.ko arch/x86/kvm/kvm-amd.ko
         drivers/net/tun.ko net/llc/llc.ko net/802/stp.ko net/bridge/bridge.ko)
# Modules the guest's /init loads (by module name), with whatever they
# depend on; those built into the kernel are skipped.
GUEST_MODULES=(virtio_mmio virtio_blk virtio_net vsock vmw_vsock_virtio_transport_common
               vmw_vsock_virtio_transport virtio_rng)

# ---------------------------------------------------------------------------
# Cache check: all outputs present, non-empty, sized as VERSION says, and
# built by this script's recipe.
# ---------------------------------------------------------------------------
version_value() { # KEY FILE -> value of KEY=... (empty if absent)
  local line
  while IFS= read -r line; do
    if [ "${line%%=*}" = "$1" ]; then printf '%s\n' "${line#*=}"; return 0; fi
  done <"$2"
  return 0
}

assets_complete() {
  local f want have
  for f in "${OUTPUTS[@]}"; do [ -s "$DIR/$f" ] || return 1; done
  for f in "${MODULES[@]}"; do [ -s "$DIR/modules/${f##*/}" ] || return 1; done
  for f in vmlinuz vmlinux initrd.cpio.gz busybox; do
    want=$(version_value "${f//./_}_size" "$DIR/VERSION")
    have=$(stat -c %s "$DIR/$f")
    [ -n "$want" ] && [ "$want" = "$have" ] || return 1
  done
  [ "$(version_value recipe_sha256 "$DIR/VERSION")" = "$RECIPE" ]
}

report_cached() {
  local abs
  abs=$(cd "$DIR" && pwd)
  say "up to date in $abs ($(version_value kernel_release "$DIR/VERSION"), pvh=$(version_value pvh "$DIR/VERSION"))"
  say "  $abs/vmlinuz $abs/vmlinux $abs/initrd.cpio.gz $abs/VERSION"
}

if [ -d "$DIR" ] && assets_complete; then
  report_cached
  exit 0
fi

# ---------------------------------------------------------------------------
# Build. One builder at a time per DIR.
# ---------------------------------------------------------------------------
for tool in apt-get apt-cache dpkg-deb od dd cpio gzip stat objcopy; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "'$tool' not found; run scripts/install-deps.sh (Debian 12 is expected)"
done

mkdir -p "$DIR" || die "cannot create $DIR"
DIR=$(cd "$DIR" && pwd)

if command -v flock >/dev/null 2>&1; then
  exec 9>"$DIR/.lock"
  flock 9 || die "cannot lock $DIR/.lock"
  # Another run may have finished while we waited.
  if assets_complete; then report_cached; exit 0; fi
fi

# Leftovers of runs that were killed outright.
rm -rf "$DIR"/.build.* 2>/dev/null || true

WORK=$(mktemp -d "$DIR/.build.XXXXXX") || die "cannot create a temp dir in $DIR"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# apt-get download drops privileges to the _apt user, which must be able to
# write here.
chmod 0755 "$WORK"
mkdir -p "$WORK/debs" "$WORK/kernel" "$WORK/busybox" "$WORK/out" "$WORK/root"
chmod 0777 "$WORK/debs"

start_ms=$(($(date +%s%N) / 1000000))

# ---------------------------------------------------------------------------
# 1. Resolve and download the packages.
# ---------------------------------------------------------------------------
KERNEL_META=linux-image-cloud-amd64
KERNEL_PKG=

pkg_exists() { apt-cache show --no-all-versions "$1" >/dev/null 2>&1; }

# Prints the kernel image package the metapackage's candidate depends on,
# e.g. linux-image-6.1.0-56-cloud-amd64, or fails.
resolve_kernel_dep() {
  local line word dep=""
  # `apt-cache depends` lists the candidate version's dependencies, e.g.
  # "  Depends: linux-image-6.1.0-56-cloud-amd64".
  while IFS= read -r line; do
    case $line in
      *Depends:*)
        word=${line#*Depends: }
        word=${word#<}; word=${word%>}
        case $word in
          linux-image-*-cloud-amd64) [ -n "$dep" ] || dep=$word ;;
        esac ;;
    esac
  done < <(apt-cache depends "$KERNEL_META" 2>/dev/null)
  [ -n "$dep" ] && echo "$dep"
}

download() { # PKG...
  say "downloading $*"
  (cd "$WORK/debs" && apt-get download -q "$@") >"$WORK/apt.log" 2>&1
}

resolve_and_download() {
  local dep
  dep=$(resolve_kernel_dep) || return 1
  KERNEL_PKG=$dep-unsigned
  say "kernel package: $KERNEL_PKG (from $KERNEL_META)"
  download "$KERNEL_PKG" busybox-static && return 0
  pkg_exists "$KERNEL_PKG" && return 1
  # No -unsigned build of this cloud kernel is published: take the signed
  # image package. Its vmlinuz is the same bzImage with an Authenticode
  # signature appended after the payload, which the setup header parsing
  # below does not look at.
  KERNEL_PKG=$dep
  say "no $dep-unsigned package; using the signed image package $KERNEL_PKG"
  download "$KERNEL_PKG" busybox-static
}

if ! resolve_and_download; then
  say "package lookup or download failed; running apt-get update and retrying"
  apt-get update -q >"$WORK/apt-update.log" 2>&1 || {
    cat "$WORK/apt-update.log" >&2
    die "apt-get update failed (is the Debian package registry reachable, and are we root?)"
  }
  KERNEL_PKG=
  if ! resolve_and_download; then
    [ -f "$WORK/apt.log" ] && cat "$WORK/apt.log" >&2
    [ -n "${KERNEL_PKG:-}" ] ||
      die "cannot resolve the kernel package from '$KERNEL_META' (apt-cache depends $KERNEL_META)"
    die "apt-get download $KERNEL_PKG busybox-static failed"
  fi
fi

kernel_deb=$(ls "$WORK"/debs/"$KERNEL_PKG"_*.deb 2>/dev/null | head -n1)
busybox_deb=$(ls "$WORK"/debs/busybox-static_*.deb 2>/dev/null | head -n1)
[ -n "$kernel_deb" ] || die "apt-get download produced no $KERNEL_PKG .deb"
[ -n "$busybox_deb" ] || die "apt-get download produced no busybox-static .deb"
KERNEL_PKG_VERSION=$(dpkg-deb -f "$kernel_deb" Version)
BUSYBOX_PKG_VERSION=$(dpkg-deb -f "$busybox_deb" Version)

say "extracting $(basename "$kernel_deb")"
dpkg-deb -x "$kernel_deb" "$WORK/kernel" || die "dpkg-deb -x $kernel_deb failed"
say "extracting $(basename "$busybox_deb")"
dpkg-deb -x "$busybox_deb" "$WORK/busybox" || die "dpkg-deb -x $busybox_deb failed"

# ---------------------------------------------------------------------------
# 2. vmlinuz and vmlinux.
# ---------------------------------------------------------------------------
shopt -s nullglob
bz=("$WORK"/kernel/boot/vmlinuz-*)
shopt -u nullglob
[ ${#bz[@]} -eq 1 ] || die "expected one boot/vmlinuz-* in $KERNEL_PKG, found ${#bz[@]}"
BZ=${bz[0]}
cp "$BZ" "$WORK/out/vmlinuz"
BZ=$WORK/out/vmlinuz
bz_size=$(stat -c %s "$BZ")

# Little-endian unsigned reads from a file: FILE OFFSET.
u8()  { od -An -v -tu1 -j "$2" -N1 "$1" | tr -d ' \n'; }
u16() { od -An -v -tu2 --endian=little -j "$2" -N2 "$1" | tr -d ' \n'; }
u32() { od -An -v -tu4 --endian=little -j "$2" -N4 "$1" | tr -d ' \n'; }
u64() { od -An -v -tu8 --endian=little -j "$2" -N8 "$1" | tr -d ' \n'; }
hexbytes() { od -An -v -tx1 -j "$2" -N"$3" "$1" | tr -d ' \n'; } # FILE OFF LEN
cstring() { # FILE OFFSET MAXLEN -> bytes up to the first NUL
  dd if="$1" bs=4096 iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none |
    tr '\0' '\n' | head -n1
}

[ "$bz_size" -ge 1024 ] || die "$BZ is too small to be a bzImage"
[ "$(hexbytes "$BZ" $((0x202)) 4)" = 48647253 ] ||
  die "$BZ has no 'HdrS' setup header signature at 0x202: not a bzImage"
boot_proto=$(u16 "$BZ" $((0x206)))
proto_str=$((boot_proto >> 8)).$((boot_proto & 0xff))
[ "$boot_proto" -ge $((0x208)) ] ||
  die "boot protocol $proto_str < 2.08: the setup header has no payload fields"
setup_sects=$(u8 "$BZ" $((0x1f1)))
[ "$setup_sects" -ne 0 ] || setup_sects=4 # boot protocol: 0 means 4
pm_start=$(( (setup_sects + 1) * 512 ))
payload_offset=$(u32 "$BZ" $((0x248)))
payload_length=$(u32 "$BZ" $((0x24c)))
payload_start=$((pm_start + payload_offset))
[ "$payload_length" -gt 8 ] && [ $((payload_start + payload_length)) -le "$bz_size" ] ||
  die "payload (offset $payload_offset, length $payload_length from 0x$(printf %x $pm_start)) lies outside the $bz_size-byte bzImage"

# The kernel release string: kernel_version (0x20e) points to it, relative to 0x200.
kver_ptr=$(u16 "$BZ" $((0x20e)))
kernel_banner=$(cstring "$BZ" $((kver_ptr + 0x200)) 512)
kernel_release=${kernel_banner%% *}
[ -n "$kernel_release" ] || kernel_release=${bz[0]##*/vmlinuz-}
say "bzImage: kernel $kernel_release, boot protocol $proto_str, setup_sects $setup_sects"

magic=$(hexbytes "$BZ" "$payload_start" 6)
case $magic in
  1f8b*)         comp=gzip;  decomp=(gzip -dc) ;;
  fd377a585a00)  comp=xz;    decomp=(xz -dc --single-stream) ;;
  28b52ffd*)     comp=zstd;  decomp=(zstd -dcq) ;;
  02214c18*)     comp=lz4;   decomp=(lz4 -dcq) ;;
  425a68*)       comp=bzip2; decomp=(bzip2 -dc) ;;
  894c5a4f*)     comp=lzo;   decomp=(lzop -dc) ;;
  5d0000*)       comp=lzma;  decomp=(xz -dc --format=lzma) ;;
  *) die "unknown compression of the kernel payload (magic $magic)" ;;
esac
command -v "${decomp[0]}" >/dev/null 2>&1 ||
  die "the kernel payload is $comp-compressed but '${decomp[0]}' is not installed (add it to scripts/install-deps.sh)"

# The x86 build appends the decompressed size (LE32) to every compressed
# payload; the decompressors do not expect those 4 bytes, so leave them out
# and check the output against them.
expect_size=$(u32 "$BZ" $((payload_start + payload_length - 4)))
say "payload: $comp, $payload_length bytes at 0x$(printf %x "$payload_start"), decompresses to $expect_size bytes"
dd if="$BZ" bs=1M iflag=skip_bytes,count_bytes skip="$payload_start" \
   count=$((payload_length - 4)) status=none |
  "${decomp[@]}" >"$WORK/out/vmlinux" 2>"$WORK/decomp.log" || {
    cat "$WORK/decomp.log" >&2
    die "decompressing the $comp kernel payload with '${decomp[*]}' failed"
  }
vmlinux_size=$(stat -c %s "$WORK/out/vmlinux")
[ "$vmlinux_size" = "$expect_size" ] ||
  die "decompressed kernel is $vmlinux_size bytes, the bzImage says $expect_size"

# ELF64 (class 2), little-endian (1), x86-64 (e_machine 0x3e).
V=$WORK/out/vmlinux
[ "$(hexbytes "$V" 0 6)" = 7f454c460201 ] && [ "$(u16 "$V" 18)" = 62 ] ||
  die "the decompressed kernel is not an x86-64 ELF (starts with $(hexbytes "$V" 0 6))"
if command -v file >/dev/null 2>&1; then
  say "vmlinux: $(file -b "$V" | cut -d, -f1-3)"
fi
elf_entry=$(printf '0x%x' "$(u64 "$V" 24)")

# ---------------------------------------------------------------------------
# 3. PVH: look for the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY (type 0x12) in
# the PT_NOTE segments. Its descriptor is the 32-bit physical entry point.
# (readelf -n shows it as: Xen 0x00000008 Unknown note type: (0x00000012).)
# ---------------------------------------------------------------------------
pvh=no
pvh_entry=
# Little-endian 32-bit value at index $1 of the byte array nb.
le32() { echo $(( nb[$1] | nb[$1+1] << 8 | nb[$1+2] << 16 | nb[$1+3] << 24 )); }
e_phoff=$(u64 "$V" 32)
e_phentsize=$(u16 "$V" 54)
e_phnum=$(u16 "$V" 56)
for ((i = 0; i < e_phnum; i++)); do
  ph=$((e_phoff + i * e_phentsize))
  [ "$(u32 "$V" "$ph")" = 4 ] || continue # PT_NOTE
  seg_off=$(u64 "$V" $((ph + 8)))
  seg_len=$(u64 "$V" $((ph + 32)))
  # The whole segment as a byte array.
  read -r -a nb <<<"$(od -An -v -tu1 -j "$seg_off" -N "$seg_len" "$V" | tr '\n' ' ')"
  p=0
  while [ $((p + 12)) -le "${#nb[@]}" ]; do
    namesz=$(le32 $p); descsz=$(le32 $((p + 4))); ntype=$(le32 $((p + 8)))
    name_at=$((p + 12))
    desc_at=$(( name_at + ((namesz + 3) & ~3) ))
    next=$(( desc_at + ((descsz + 3) & ~3) ))
    [ "$next" -le "${#nb[@]}" ] || break
    if [ "$namesz" = 4 ] && [ "${nb[name_at]}" = 88 ] && [ "${nb[name_at+1]}" = 101 ] &&
       [ "${nb[name_at+2]}" = 110 ] && [ "${nb[name_at+3]}" = 0 ] && # "Xen\0"
       [ "$ntype" = 18 ] && [ "$descsz" -ge 4 ]; then
      pvh=yes
      pvh_entry=$(printf '0x%x' "$(le32 "$desc_at")")
    fi
    p=$next
  done
done
if [ "$pvh" = yes ]; then
  say "vmlinux has a PVH entry (XEN_ELFNOTE_PHYS32_ENTRY) at $pvh_entry"
else
  say "vmlinux has no PVH entry note"
fi

# ---------------------------------------------------------------------------
# 3b. Kernel modules for the hardware-KVM lane's L1 kernel.
# ---------------------------------------------------------------------------
mkdir -p "$WORK/out/modules"
moddir=$(ls -d "$WORK"/kernel/lib/modules/*/kernel 2>/dev/null | head -n1)
[ -n "$moddir" ] || die "$KERNEL_PKG has no lib/modules/*/kernel"
for m in "${MODULES[@]}"; do
  if [ -f "$moddir/$m" ]; then cp "$moddir/$m" "$WORK/out/modules/"
  elif [ -f "$moddir/$m.xz" ]; then xz -dc "$moddir/$m.xz" >"$WORK/out/modules/${m##*/}"
  else die "$KERNEL_PKG has no module $m"
  fi
done
printf '%s\n' "${MODULES[@]##*/}" >"$WORK/out/modules/load-order"
say "modules: ${MODULES[*]##*/}"

# ---------------------------------------------------------------------------
# 3c. The guest's virtio modules and their dependencies, in load order. The
# package has no modules.dep (depmod makes it at install time): each
# module's own .modinfo section names what it depends on.
# ---------------------------------------------------------------------------
GM=$WORK/out/guest-modules
mkdir -p "$GM"
modroot=${moddir%/kernel}
declare -A module_file=()
while IFS= read -r f; do
  name=${f##*/}; name=${name%.xz}; name=${name%.ko}; name=${name//-/_}
  module_file[$name]=$f
done < <(find "$moddir" -name '*.ko' -o -name '*.ko.xz')
declare -A builtin=()
if [ -f "$modroot/modules.builtin" ]; then
  while IFS= read -r f; do
    name=${f##*/}; name=${name%.ko}; builtin[${name//-/_}]=1
  done <"$modroot/modules.builtin"
fi
declare -A module_done=()
guest_order=()
guest_builtin=()
add_module() { # NAME (underscores): its dependencies first, then itself
  local name=$1 src ko deps dep
  [ -z "${module_done[$name]:-}" ] || return 0
  module_done[$name]=1
  if [ -n "${builtin[$name]:-}" ]; then guest_builtin+=("$name"); return 0; fi
  src=${module_file[$name]:-}
  [ -n "$src" ] || die "$KERNEL_PKG has no module $name (and it is not built in)"
  ko=$GM/${src##*/}; ko=${ko%.xz}
  case $src in *.xz) xz -dc "$src" >"$ko" ;; *) cp "$src" "$ko" ;; esac
  deps=$(objcopy -O binary --only-section=.modinfo "$ko" /dev/stdout 2>/dev/null | tr '\0' '\n' |
         sed -n 's/^depends=//p')
  for dep in ${deps//,/ }; do add_module "${dep//-/_}"; done
  guest_order+=("${ko##*/}")
}
for m in "${GUEST_MODULES[@]}"; do add_module "$m"; done
printf '%s\n' "${guest_order[@]}" >"$GM/load-order"
say "guest modules: ${guest_order[*]}${guest_builtin:+ (built in: ${guest_builtin[*]})}"

# ---------------------------------------------------------------------------
# 4. The busybox initramfs.
# ---------------------------------------------------------------------------
BB=$WORK/busybox/bin/busybox
[ -x "$BB" ] || die "busybox-static has no executable bin/busybox"
R=$WORK/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,root,etc,newroot,lib/modules/brood}
chmod 1777 "$R/tmp"
chmod 0700 "$R/root"
cp "$BB" "$R/bin/busybox"
cp "$BB" "$WORK/out/busybox"
cp "$GM"/* "$R/lib/modules/brood/"
chmod 0755 "$R/bin/busybox"
busybox_version=$({ "$BB" --help 2>&1 || true; } | head -n1 | cut -d" " -f2)
busybox_version=${busybox_version#v}
[ -n "$busybox_version" ] || busybox_version=unknown

# Applet links, at the paths busybox itself would install them to. Made at
# build time so the guest does not spend slow early-boot instructions on it.
napplets=0
while IFS= read -r applet; do
  [ -n "$applet" ] || continue
  applet=${applet#/}
  case $applet in bin/busybox|linuxrc|*..*) continue ;; */*) ;; *) continue ;; esac
  [ -d "$R/${applet%/*}" ] || mkdir -p "$R/${applet%/*}"
  [ -e "$R/$applet" ] || [ -L "$R/$applet" ] || { ln -s /bin/busybox "$R/$applet"; napplets=$((napplets + 1)); }
done < <("$BB" --list-full 2>/dev/null)
[ "$napplets" -gt 10 ] || die "'busybox --list-full' gave no applets"
for a in sh mount setsid cttyhack reboot poweroff sync init insmod switch_root; do
  [ -L "$R/bin/$a" ] || [ -L "$R/sbin/$a" ] || [ -L "$R/usr/bin/$a" ] || [ -L "$R/usr/sbin/$a" ] ||
    die "busybox lacks the '$a' applet /init needs"
done

cat >"$R/init" <<'EOF'
#!/bin/busybox sh
# brood initramfs /init (generated by scripts/fetch-guest-assets.sh).
# Mounts proc, sysfs and devtmpfs and loads the virtio modules. With
# root=/dev/vdX on the kernel command line it mounts that ext4 disk and
# switch_roots into its /sbin/init. Otherwise it starts /bin/brood-agent
# (when the initrd has one) in the background, prints one line
#   brood-initrd ready uptime=<seconds>
# on the serial console, then becomes busybox init, which runs what
# /etc/inittab says: an interactive shell on ttyS0 (when it exits the guest
# reboots; with reboot=k: keyboard-controller reset), and on Ctrl+Alt+Del,
# which is the VMM's graceful shutdown, a sync and a power-off.
export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/root TERM=linux
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
tty=/dev/ttyS0
[ -c "$tty" ] || tty=/dev/console
# Dependencies first; a driver whose device is absent loads and waits, and
# one that fails to load (or is built in) is skipped quietly. insmod, unlike
# modprobe, does not read "module.param=" from the kernel command line: pass
# each module its own (the VMM declares its virtio-mmio devices there).
while read -r m; do
  name=${m%.ko}
  params=
  for arg in $(cat /proc/cmdline); do
    case $arg in "$name".*=*|"$(echo "$name" | tr - _)".*=*) params="$params ${arg#*.}" ;; esac
  done
  insmod "/lib/modules/brood/$m" $params 2>/dev/null
done </lib/modules/brood/load-order
root=
for arg in $(cat /proc/cmdline); do
  case $arg in root=/dev/*) root=${arg#root=} ;; esac
done
if [ -n "$root" ]; then
  i=0
  while [ ! -b "$root" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  if mount -t ext4 "$root" /newroot 2>/dev/null && [ -x /newroot/sbin/init ]; then
    mount -o move /dev /newroot/dev 2>/dev/null || umount /dev
    umount /proc /sys
    exec switch_root /newroot /sbin/init
  fi
  umount /newroot 2>/dev/null
  echo "init: cannot mount root $root (or it has no /sbin/init); staying in the initramfs" >"$tty"
fi
if [ -x /bin/brood-agent ]; then
  setsid /bin/brood-agent </dev/null >/dev/null 2>&1 &
fi
up=unknown
read -r up _ </proc/uptime
echo "brood-initrd ready uptime=$up" >"$tty"
# Then busybox init runs what /etc/inittab says.
exec /bin/busybox init
EOF
chmod 0755 "$R/init"
# The console shell: a session of its own with ttyS0 as its controlling
# terminal, so job control and ^C work. A root disk brings its own.
cat >"$R/etc/inittab" <<'EOF'
# /etc/inittab of brood's initramfs (scripts/fetch-guest-assets.sh).
::once:/bin/sh -c 'setsid sh -c "exec sh -l </dev/ttyS0 >/dev/ttyS0 2>&1"; echo "init: shell exited, rebooting" >/dev/ttyS0; reboot -f'
::ctrlaltdel:/bin/sh -c 'echo "init: Ctrl+Alt+Del: syncing and powering off" >/dev/ttyS0; sync; poweroff -f'
EOF
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\n' >"$R/etc/group"

# Reproducible archive: fixed owner, inode numbers and timestamps.
find "$R" -exec touch -h -d @0 {} +
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort |
  cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -9 -n >"$WORK/out/initrd.cpio.gz" ||
  die "building the initramfs (cpio | gzip) failed"
gzip -t "$WORK/out/initrd.cpio.gz" || die "the initramfs archive is corrupt"
say "initramfs: busybox $busybox_version, $napplets applet links, ${#guest_order[@]} guest modules, /init"

# ---------------------------------------------------------------------------
# 5. VERSION, then move everything into place.
# ---------------------------------------------------------------------------
initrd_size=$(stat -c %s "$WORK/out/initrd.cpio.gz")
{
  echo "# brood guest assets, written by scripts/fetch-guest-assets.sh"
  echo "kernel_release=$kernel_release"
  echo "kernel_banner=$kernel_banner"
  echo "kernel_package=$KERNEL_PKG"
  echo "kernel_package_version=$KERNEL_PKG_VERSION"
  echo "kernel_boot_protocol=$proto_str"
  echo "kernel_compression=$comp"
  echo "vmlinux_entry=$elf_entry"
  echo "pvh=$pvh"
  echo "pvh_entry=$pvh_entry"
  echo "busybox_package=busybox-static"
  echo "busybox_package_version=$BUSYBOX_PKG_VERSION"
  echo "busybox_version=$busybox_version"
  echo "vmlinuz_size=$bz_size"
  echo "vmlinux_size=$vmlinux_size"
  echo "initrd_cpio_gz_size=$initrd_size"
  echo "busybox_size=$(stat -c %s "$WORK/out/busybox")"
  echo "guest_modules=${guest_order[*]}"
  echo "guest_modules_builtin=${guest_builtin[*]}"
  echo "recipe_sha256=$RECIPE"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$WORK/out/VERSION"

# Data on disk before the renames make it visible.
sync "$WORK"/out/* 2>/dev/null || sync
# VERSION marks a complete set: remove the old one first, install it last.
rm -f "$DIR/VERSION"
rm -rf "$DIR/modules" "$DIR/guest-modules"
for f in modules guest-modules vmlinuz vmlinux initrd.cpio.gz busybox VERSION; do
  mv -f "$WORK/out/$f" "$DIR/$f"
done

elapsed_ms=$(($(date +%s%N) / 1000000 - start_ms))
say "done in $((elapsed_ms / 1000)).$(printf %01d $((elapsed_ms % 1000 / 100)))s: kernel $kernel_release ($KERNEL_PKG $KERNEL_PKG_VERSION), pvh=$pvh${pvh_entry:+ entry $pvh_entry}"
say "  $DIR/vmlinuz ($bz_size bytes)"
say "  $DIR/vmlinux ($vmlinux_size bytes)"
say "  $DIR/initrd.cpio.gz ($initrd_size bytes)"
say "  $DIR/VERSION"
