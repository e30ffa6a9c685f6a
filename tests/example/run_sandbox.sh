#!/bin/sh
# SPDX-License-Identifier: MIT
# Run examples/sandbox with three names; skip (77) when /dev/kvm is unusable,
# unless LIBVMM_REQUIRE_KVM=1.
example=$1
guest=$2
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    [ "${LIBVMM_REQUIRE_KVM:-0}" = 1 ] && { echo "/dev/kvm unusable"; exit 1; }
    echo "skip: /dev/kvm unusable"
    exit 77
fi
out=$("$example" "$guest" Ada Grace Linus 2>&1)
rc=$?
echo "$out"
[ $rc -eq 0 ] || exit 1
echo "$out" | grep -qx 'call 1: exit 0, [0-9]* system calls: Hello, Ada! (3 bytes of name)' &&
    echo "$out" | grep -qx 'call 2: exit 0, [0-9]* system calls: Hello, Grace! (5 bytes of name)' &&
    echo "$out" | grep -qx 'call 3: exit 0, [0-9]* system calls: Hello, Linus! (5 bytes of name)' &&
    echo "$out" | grep -qx 'greet was called 3 times'
