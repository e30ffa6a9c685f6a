#!/bin/sh
# SPDX-License-Identifier: MIT
# Fresh Debian 12 machine: install what is missing, build libvmm, run the demo
# VMs. They need KVM: where this host's /dev/kvm is unusable they run in the
# nested test VM (scripts/with-kvm.sh), with their output on this terminal.
set -eu
cd "$(dirname "$0")/.."
if [ "${1:-}" = --run ]; then
    ./build/examples/hello
    # The same kind of guest, described by a JSON spec and run by vmm-run, whose
    # exit status is the status the guest reports (64 for this one).
    status=0
    ./build/vmm-run examples/specs/hello-elf.json || status=$?
    echo "vmm-run: the guest reported status $status"
    [ "$status" -eq 64 ]
    exit 0
fi
sh scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
if [ "$(sh scripts/with-kvm.sh --print-host)" = nested-svm ]; then
    echo "demo: this host has no usable /dev/kvm; running the demo VMs in the nested test VM" \
        "(QEMU, software emulation: slow, for trying libvmm only)"
fi
exec sh scripts/with-kvm.sh sh scripts/demo.sh --run
