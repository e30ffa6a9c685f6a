#!/bin/sh
# SPDX-License-Identifier: MIT
# Fresh Debian 12 machine: install what is missing, build libvmm, run the demo VM.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
exec ./build/examples/hello
