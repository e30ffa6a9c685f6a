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

# The spec parser under libFuzzer (clang; ASan+UBSan), for a bounded time, from
# a copy of the seed corpus. Run from tests/spec/bad so the seeds' relative
# paths name real files. Any crash, leak or sanitizer report fails the run.
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DLIBVMM_FUZZ=ON \
    -DLIBVMM_BUILD_TESTS=OFF -DLIBVMM_BUILD_BENCH=OFF -DLIBVMM_BUILD_EXAMPLES=OFF
cmake --build build-fuzz -j"$jobs" --target spec_fuzz snapshot_fuzz sandbox_elf_fuzz guest_fuzz
fuzz_dir=$(mktemp -d)
trap 'rm -rf "$fuzz_dir"' EXIT
mkdir "$fuzz_dir/corpus" "$fuzz_dir/artifacts"
cp fuzz/corpus/spec/* "$fuzz_dir/corpus/"
top=$(pwd)
(cd tests/spec/bad &&
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$top/build-fuzz/fuzz/spec_fuzz" -max_total_time=60 -rss_limit_mb=2048 \
        -dict="$top/fuzz/spec.dict" -artifact_prefix="$fuzz_dir/artifacts/" \
        -print_final_stats=1 "$fuzz_dir/corpus") || {
    echo "libvmm: spec_fuzz failed; the input is in $fuzz_dir/artifacts (kept)" >&2
    trap - EXIT
    exit 1
}

# A file-format fuzzer for SECONDS from a copy of its seeds; any crash, leak
# or sanitizer report fails the run and keeps the input.
fuzz_files() { # NAME SEEDS_DIR SECONDS
    mkdir "$fuzz_dir/$1-corpus"
    cp "$2"/* "$fuzz_dir/$1-corpus/"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$top/build-fuzz/fuzz/$1" -max_total_time="$3" -rss_limit_mb=2048 \
        -artifact_prefix="$fuzz_dir/artifacts/" -print_final_stats=1 \
        "$fuzz_dir/$1-corpus" || {
        echo "libvmm: $1 failed; the input is in $fuzz_dir/artifacts (kept)" >&2
        trap - EXIT
        exit 1
    }
}
# The snapshot-file loader (seeds made by `test_snapshot_file --write-seeds
# DIR`) and the sandbox's ELF check and initial stack (`test_sandbox_elf
# --write-seeds DIR`), 30 s each.
fuzz_files snapshot_fuzz fuzz/corpus/snapshot 30
fuzz_files sandbox_elf_fuzz fuzz/corpus/sandbox_elf 30

# libFuzzer driving the guest fuzz harness (examples/fuzz/libfuzzer.c): with
# the guest's coverage as extra counters it must find the target's planted bug
# within 120 s. Here a crash is the expected result (exit code 3 as set below;
# 77 means KVM is unusable).
rc=0
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$top/build-fuzz/fuzz/guest_fuzz" -max_total_time=120 -error_exitcode=3 -seed=1 \
    -artifact_prefix="$fuzz_dir/guest-" -print_final_stats=1 >"$fuzz_dir/guest.log" 2>&1 || rc=$?
if [ $rc -eq 77 ] && [ "${LIBVMM_REQUIRE_KVM:-0}" != 1 ]; then
    echo "libvmm: guest_fuzz skipped: /dev/kvm unusable"
elif [ $rc -ne 3 ] || ! grep -q "guest_fuzz: the guest crashed" "$fuzz_dir/guest.log" ||
    ! ls "$fuzz_dir"/guest-crash-* >/dev/null 2>&1; then
    tail -n 30 "$fuzz_dir/guest.log" >&2
    echo "libvmm: guest_fuzz did not find the planted bug (exit $rc)" >&2
    exit 1
else
    grep -E "guest_fuzz: the guest crashed|stat::number_of_executed_units|stat::average_exec_per_sec" \
        "$fuzz_dir/guest.log" || true
fi
echo "libvmm: all tests passed; spec_fuzz ran 60 s, snapshot_fuzz and sandbox_elf_fuzz 30 s each" \
    "without a crash or leak;" \
    "guest_fuzz found the planted bug"
