#!/bin/sh
# SPDX-License-Identifier: MIT
# Install into a scratch prefix and build examples/hello outside the tree with
# pkg-config, against the shared and the static library; check the exports.
# Both builds of hello run on a real KVM through scripts/with-kvm.sh (in the
# nested test VM where this host has no usable /dev/kvm): the compiling stays
# here, where it is fast.
set -eu
build=$(cd "$1" && pwd)
src=$2
cc=${3:-cc}
export LIBVMM_LINUX_DIR=${4:-$build/linux-kernel}
# In the build tree, not /tmp: the nested VM has a /tmp of its own.
tmp=$(mktemp -d "$build/install-check.XXXXXX")
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
# Run both builds; without a usable KVM, hello says "hello: KVM: ..." and the
# check is skipped (77) unless LIBVMM_REQUIRE_KVM=1.
cat >"$tmp/run.sh" <<'EOF'
for prog in "$@"; do
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
EOF
libdir=$libdir sh "$src/scripts/with-kvm.sh" --timeout 600 sh "$tmp/run.sh" "$tmp/hello" \
    "$tmp/hello-static"
echo "install: ok (built and ran hello against the installed shared and static library)"
