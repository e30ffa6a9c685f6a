#!/bin/sh
# SPDX-License-Identifier: MIT
# Build and run every test: the normal build, then the whole suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer. Set LIBVMM_REQUIRE_KVM=1 to
# make tests that need /dev/kvm fail instead of skipping when it is unusable.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j1)

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLIBVMM_SANITIZE=ON
cmake --build build-asan -j"$jobs"
(cd build-asan &&
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j1)
