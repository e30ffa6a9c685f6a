#!/bin/sh
# SPDX-License-Identifier: MIT
# Install into a scratch prefix and build examples/hello outside the tree with
# pkg-config, against the shared and the static library; check the exports.
set -eu
build=$1
src=$2
cc=${3:-cc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
pc=$(find "$tmp/prefix" -name libvmm.pc)
[ -n "$pc" ] || { echo "FAIL: libvmm.pc not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$pc")
for h in vmm.h vcpu.h vm.h memory.h device.h; do
    [ -f "$tmp/prefix/include/libvmm/$h" ] || { echo "FAIL: include/libvmm/$h not installed"; exit 1; }
done
libdir=$(pkg-config --variable=libdir libvmm)
[ -e "$libdir/libvmm.so.0" ] || { echo "FAIL: no libvmm.so.0 in $libdir"; exit 1; }
[ -e "$libdir/libvmm.a" ] || { echo "FAIL: no libvmm.a in $libdir"; exit 1; }
soname=$(objdump -p "$libdir/libvmm.so" | awk '/SONAME/ { print $2 }')
[ "$soname" = "libvmm.so.0" ] || { echo "FAIL: SONAME is '$soname'"; exit 1; }
others=$(nm -D --defined-only "$libdir/libvmm.so" | awk '{ print $3 }' | grep -v '^vmm_' || true)
[ -z "$others" ] || { echo "FAIL: non-vmm_ symbols exported: $others"; exit 1; }
# shellcheck disable=SC2046
$cc -std=c11 -Wall -Werror "$src/examples/hello/hello.c" $(pkg-config --cflags --libs libvmm) -o "$tmp/hello"
# shellcheck disable=SC2046
$cc -std=c11 -Wall -Werror "$src/examples/hello/hello.c" $(pkg-config --cflags libvmm) \
    "$libdir/libvmm.a" $(pkg-config --static --libs-only-l libvmm | sed 's/-lvmm//') -o "$tmp/hello-static"
# Run both builds; without a usable /dev/kvm, hello says "hello: KVM: ..." and
# the check is skipped (77) unless LIBVMM_REQUIRE_KVM=1.
for prog in "$tmp/hello" "$tmp/hello-static"; do
    if out=$(LD_LIBRARY_PATH=$libdir "$prog" 2>&1); then
        echo "$out" | grep -q "Hello from a libvmm guest!" || { echo "FAIL: $prog printed: $out"; exit 1; }
    elif echo "$out" | grep -q '^hello: KVM:' && [ "${LIBVMM_REQUIRE_KVM:-0}" != 1 ]; then
        echo "install: built hello; not run: $out"
        exit 77
    else
        echo "FAIL: $prog: $out"
        exit 1
    fi
done
echo "install: ok (built and ran hello against the installed shared and static library)"
