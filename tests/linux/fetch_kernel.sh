#!/bin/sh
# SPDX-License-Identifier: MIT
# Fetch the Debian kernel the Linux boot tests load (package linux-image-amd64,
# through `apt-get download`; never committed) into DIR, once:
#   DIR/bzImage         the kernel as Debian ships it (/boot/vmlinuz-*)
#   DIR/vmlinux         the same kernel, uncompressed ELF (from the bzImage's payload)
#   DIR/initramfs.cpio  a busybox initramfs whose /init prints a marker and powers off
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
if [ -s bzImage ] && [ -s vmlinux ] && [ -s initramfs.cpio ]; then
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
python3 - /bin/busybox initramfs.tmp <<'PY'
import os, sys
files = [
    ("bin", 0o040755, b""),
    ("bin/busybox", 0o100755, open(sys.argv[1], "rb").read()),
    ("init", 0o100755, b"#!/bin/busybox sh\n/bin/busybox echo LIBVMM-INITRAMFS-OK\n"
                       b"/bin/busybox poweroff -f\n"),
]
out = bytearray()
def entry(name, mode, data, ino):
    name = name.encode() + b"\0"
    hdr = "070701" + "".join("%08X" % v for v in (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0))
    out.extend(hdr.encode() + name)
    out.extend(b"\0" * (-len(out) % 4))
    out.extend(data)
    out.extend(b"\0" * (-len(out) % 4))
for i, (n, m, d) in enumerate(files):
    entry(n, m, d, i + 1)
entry("TRAILER!!!", 0, b"", 0)
open(sys.argv[2], "wb").write(out)
PY
mv vmlinux.tmp vmlinux
mv initramfs.tmp initramfs.cpio
mv bzImage.tmp bzImage
echo "fetch_kernel: $pkg in $dir"
