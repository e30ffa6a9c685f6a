#!/bin/sh
# SPDX-License-Identifier: MIT
# Fetch the Debian kernel the Linux boot tests load (package linux-image-amd64,
# through `apt-get download`; never committed) into DIR, once:
#   DIR/bzImage         the kernel as Debian ships it (/boot/vmlinuz-*)
#   DIR/vmlinux         the same kernel, uncompressed ELF (from the bzImage's payload)
#   DIR/initramfs.cpio  a busybox initramfs whose /init prints a marker and powers off
#   DIR/modules/        the package's lib/modules/<version> tree
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
dir=$1
mkdir -p "$dir"
cd "$dir"
if [ -s bzImage ] && [ -s vmlinux ] && [ -s initramfs.cpio ] && [ -d modules/kernel ]; then
    exit 0
fi
# linux-image-amd64 is a metapackage: download the image package it depends on.
image_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1
}
pkg=$(image_pkg)
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
    # No package lists yet (a fresh machine): fetch them once.
    env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
    pkg=$(image_pkg)
fi
if [ -z "$pkg" ]; then
    echo "fetch_kernel: apt-cache knows no linux-image-amd64 (run apt-get update)" >&2
    exit 1
fi
rm -rf deb x
mkdir deb
(cd deb && apt-get download -q "$pkg" >/dev/null 2>&1) || {
    echo "fetch_kernel: apt-get download $pkg failed (is the Debian archive reachable?)" >&2
    exit 1
}
dpkg-deb -x deb/*.deb x
cp x/boot/vmlinuz-* bzImage.tmp
# The kernel's modules, for the nested test VM (scripts/with-kvm.sh).
rm -rf modules
mv x/lib/modules/* modules
rm -rf deb x
python3 - bzImage.tmp vmlinux.tmp <<'PY'
import lzma, struct, sys, zlib
d = open(sys.argv[1], "rb").read()
setup = ((d[0x1F1] or 4) + 1) * 512
off, length = struct.unpack_from("<II", d, 0x248)
payload = d[setup + off : setup + off + length]
if payload[:6] == b"\xfd7zXZ\x00":
    out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
elif payload[:2] == b"\x1f\x8b":
    out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
else:
    sys.exit("fetch_kernel: the bzImage payload is neither xz nor gzip")
if out[:4] != b"\x7fELF":
    sys.exit("fetch_kernel: the payload is not an ELF vmlinux")
open(sys.argv[2], "wb").write(out)
PY
# The initramfs: busybox (busybox-static) and an /init script, as a newc cpio.
printf '%s\n' '#!/bin/busybox sh' '/bin/busybox echo LIBVMM-INITRAMFS-OK' \
    '/bin/busybox poweroff -f' >init.tmp
python3 "$src/scripts/initramfs.py" initramfs.tmp --busybox /bin/busybox --init init.tmp
rm -f init.tmp
mv vmlinux.tmp vmlinux
mv initramfs.tmp initramfs.cpio
mv bzImage.tmp bzImage
echo "fetch_kernel: $pkg in $dir"
