#!/bin/sh
# SPDX-License-Identifier: MIT
# Run examples/hello; skip (77) when it reports that KVM is unusable, unless
# LIBVMM_REQUIRE_KVM=1.
hello=$1
out=$("$hello" 2>&1)
rc=$?
echo "$out"
if [ $rc -ne 0 ] && echo "$out" | grep -q '^hello: KVM:'; then
    [ "${LIBVMM_REQUIRE_KVM:-0}" = 1 ] && exit 1
    exit 77
fi
[ $rc -eq 0 ] && echo "$out" | grep -q 'Hello from a libvmm guest!'
