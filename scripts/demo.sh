#!/bin/sh
# SPDX-License-Identifier: MIT
# Fresh Debian 12 machine: install what is missing, build libvmm, run the demo VM.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
./build/examples/hello
# The same kind of guest, described by a JSON spec and run by vmm-run, whose
# exit status is the status the guest reports (64 for this one).
status=0
./build/vmm-run examples/specs/hello-elf.json || status=$?
echo "vmm-run: the guest reported status $status"
[ "$status" -eq 64 ]
