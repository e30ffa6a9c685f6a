#!/bin/sh
# SPDX-License-Identifier: MIT
# Build and run every test: the normal build, then the whole suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer, then the fuzzers for a bounded
# time. Tests that need KVM (ctest label "kvm", and guest_fuzz) run through
# scripts/with-kvm.sh: on this host's /dev/kvm where it is usable, otherwise in
# the nested test VM; the others run on the host. Set LIBVMM_REQUIRE_KVM=1 to
# make tests that need /dev/kvm fail instead of skipping when it is unusable.
set -eu
cd "$(dirname "$0")/.."
sh scripts/deps.sh
jobs=$(nproc)
top=$(pwd)
# One kernel download for both builds and for the nested VM.
export LIBVMM_LINUX_DIR="$top/build/linux-kernel"
kvm_host=$(sh scripts/with-kvm.sh --print-host)
case $kvm_host in
host-pvm) kvm_where="host /dev/kvm (PVM)" ;;
host-vmx) kvm_where="host /dev/kvm (VMX)" ;;
host-svm) kvm_where="host /dev/kvm (SVM)" ;;
host) kvm_where="host /dev/kvm" ;;
*) kvm_where="nested VM (QEMU TCG with nested SVM; scripts/with-kvm.sh)" ;;
esac
echo "libvmm: tests that need KVM run on: $kvm_where"
summary=""

# ctest in BUILD_DIR for the tests of one side (host: -LE kvm, kvm: -L kvm),
# live, keeping the log to count passed and skipped tests into $summary.
# Should the nested VM freeze (with-kvm.sh's status 123: QEMU's platform fault
# in docs/testing.md), the tests that had not passed yet run once more in a
# fresh VM, and the summary says so; a second freeze fails the run.
run_ctest() { # NAME BUILD_DIR host|kvm
    name=$1 dir=$2 side=$3
    where=host
    [ "$side" = host ] || where=$kvm_where
    passed=0 skipped=0 failed=0 note="" exclude=""
    for attempt in 1 2; do
        log="$dir/ctest-$side-$attempt.log"
        if [ "$side" = host ]; then
            set -- ctest --output-on-failure -j1 -LE kvm
        else
            set -- sh "$top/scripts/with-kvm.sh" --timeout 3000 \
                ctest --output-on-failure -j1 -L kvm ${exclude:+-E "$exclude"}
        fi
        rm -f "$log.rc"
        { (cd "$dir" && "$@") || echo $? >"$log.rc"; } | tee "$log"
        rc=0
        [ ! -f "$log.rc" ] || { rc=$(cat "$log.rc"); rm -f "$log.rc"; }
        # (In the nested VM ctest writes to a serial line and colours its summary.)
        sed "s/$(printf '\033')\[[0-9;]*m//g" "$log" >"$log.plain"
        if [ "$side" = kvm ] && [ $rc -eq 123 ] && [ $attempt -eq 1 ]; then
            done_tests=$(sed -n 's/^ *[0-9]*\/[0-9]* Test *#[0-9]*: \([^ ]*\) .* Passed .*/\1/p' \
                "$log.plain")
            passed=$(echo "$done_tests" | grep -c . || true)
            exclude="^($(echo "$done_tests" | sed 's/\./\\./g' | paste -s -d'|' -))\$"
            [ "$passed" -gt 0 ] || exclude=""
            note=" (the nested VM froze after $passed had passed; the rest ran in a fresh VM)"
            echo "libvmm: the nested VM froze during $name ctest after $passed tests passed;" \
                "the others run again in a fresh VM" >&2
            continue
        fi
        total=$(sed -n 's/.*tests failed out of \([0-9]*\).*/\1/p' "$log.plain" | tail -n 1)
        f=$(sed -n 's/.* \([0-9]*\) tests failed out of.*/\1/p' "$log.plain" | tail -n 1)
        sk=$(grep -c '(Skipped)$' "$log.plain" || true)
        if [ $rc -ne 0 ] || [ -z "$total" ]; then
            echo "libvmm: $name ctest ($side) failed (exit $rc)" >&2
            exit 1
        fi
        passed=$((passed + total - f - sk)) skipped=$((skipped + sk)) failed=$((failed + f))
        break
    done
    summary="$summary
libvmm: $name ctest on $where: $passed passed, $skipped skipped, $failed failed$note"
    # The Linux boot's own report (time and VM exits), which ctest keeps.
    boot=$(grep -a -h -m1 '^test_full_boot: ' "$dir/Testing/Temporary/LastTest"*.log 2>/dev/null || true)
    [ -z "$boot" ] || summary="$summary
libvmm: $name $boot"
}

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLIBVMM_LINUX_DIR="$LIBVMM_LINUX_DIR"
cmake --build build -j"$jobs"
run_ctest release build host
run_ctest release build kvm

# The Python bindings (bindings/python), installed offline into a venv that
# sees Debian's python3-pytest, tested against the release build's library
# from outside the source tree (so the installed package is what runs).
py=/usr/bin/python3
rm -rf build/pyenv
$py -m venv --system-site-packages build/pyenv
build/pyenv/bin/pip install -q --no-build-isolation --no-index bindings/python
rm -rf bindings/python/build bindings/python/libvmm.egg-info
# pytest runs in a directory of its own: `python -m pytest` puts its working
# directory first on sys.path, and in build/ `import libvmm` would find the C
# library libvmm.so there instead of the package.
mkdir -p build/pytest
set -- env LIBVMM_LIBRARY="$top/build/libvmm.so.0" LIBVMM_BUILD_DIR="$top/build" \
    "$top/build/pyenv/bin/python" -m pytest -q --color=no -p no:cacheprovider \
    "$top/bindings/python/tests"
(cd build/pytest && "$@" -k "abi" | tee ../pytest-host.log)
(cd build/pytest && sh "$top/scripts/with-kvm.sh" --timeout 1800 "$@" -k "not abi" |
    tee ../pytest-kvm.log)
for side in host kvm; do
    tail -n 1 "build/pytest-$side.log" | grep -E "^[0-9]+ passed" |
        grep -q -v -E "failed|error" || {
        echo "libvmm: Python binding tests ($side) failed" >&2
        exit 1
    }
done
summary="$summary
libvmm: Python bindings, host: $(tail -n 1 build/pytest-host.log)
libvmm: Python bindings, $kvm_where: $(tail -n 1 build/pytest-kvm.log)"

# The Go bindings (bindings/go), offline (the module uses Go's standard
# library only), against the release build tree's library through its .pc
# file. Everything is compiled here; `go test` in the nested VM then only
# links from the build cache and runs, and prints go test's own `ok` line.
# The concurrency tests run once more under the race detector.
export GOFLAGS=-mod=mod GOPROXY=off GOCACHE="$top/build/go-cache" GOTMPDIR="$top/build"
export GOPATH="$top/build/gopath"
export PKG_CONFIG_PATH="$top/build/pkgconfig"
(cd bindings/go && go vet ./... && go vet -tags libvmm_bench ./... &&
    go test -count=1 -run '^$' ./... >/dev/null &&
    go test -race -count=1 -run '^$' ./... >/dev/null) &&
    (cd examples/go && go vet ./... && go build -o "$top/build/go-examples/" ./...) || {
    echo "libvmm: the Go bindings do not build" >&2
    exit 1
}
race='Kick|Panic|Policy|Pause|Sandbox(Hello|Limits)'
(cd bindings/go && sh "$top/scripts/with-kvm.sh" --timeout 1800 sh -c \
    "LIBVMM_BUILD_DIR='$top/build' go test -count=1 ./... &&
     LIBVMM_BUILD_DIR='$top/build' go test -race -count=1 -run '$race' ./... &&
     '$top/build/go-examples/device' '$top/build/guest/counter.bin' &&
     echo 'from go' | '$top/build/go-examples/sandbox' '$top/build/tests/sandbox/cat' &&
     { '$top/build/go-examples/vmrun' '$top/examples/specs/hello-long.json'; test \$? -eq 64; } &&
     echo 'libvmm: Go examples ran'" |
    tee "$top/build/gotest.log")
grep -c '^ok ' build/gotest.log | grep -q '^2$' && grep -q '^libvmm: Go examples ran' build/gotest.log &&
    ! grep -q -E '^(FAIL|--- FAIL)' build/gotest.log || {
    echo "libvmm: Go binding tests failed" >&2
    exit 1
}
summary="$summary
libvmm: Go bindings, $kvm_where: $(grep '^ok ' build/gotest.log | head -n 1); race detector: $(grep '^ok ' build/gotest.log | tail -n 1)"

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DLIBVMM_SANITIZE=ON \
    -DLIBVMM_LINUX_DIR="$LIBVMM_LINUX_DIR"
cmake --build build-asan -j"$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_ctest ASan+UBSan build-asan host
run_ctest ASan+UBSan build-asan kvm
unset ASAN_OPTIONS UBSAN_OPTIONS

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
# within 120 s of fuzzing. Here a crash is the expected result (exit code 3 as
# set below; 77 means KVM is unusable). It needs KVM, so it runs through
# with-kvm.sh, in a directory of the build tree that the nested VM sees. It
# is given the target's tokens (examples/fuzz/target.dict), as one gives
# libFuzzer a dictionary: without them, its mutations did not reach the
# target's 4-byte magic one byte at a time within 100,000 runs (the C
# example's own loop, example.fuzz, does so without help).
guest_dir="$top/build-fuzz/guest-run"
rm -rf "$guest_dir"
mkdir -p "$guest_dir"
rc=0
sh scripts/with-kvm.sh --timeout 900 env ASAN_OPTIONS=detect_leaks=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$top/build-fuzz/fuzz/guest_fuzz" -dict="$top/examples/fuzz/target.dict" \
    -max_total_time=120 -error_exitcode=3 -seed=1 \
    -artifact_prefix="$guest_dir/guest-" -print_final_stats=1 >"$guest_dir/guest.log" 2>&1 || rc=$?
if [ $rc -eq 77 ] && [ "${LIBVMM_REQUIRE_KVM:-0}" != 1 ]; then
    guest_result="skipped: /dev/kvm unusable"
elif [ $rc -ne 3 ] || ! grep -q "guest_fuzz: the guest crashed" "$guest_dir/guest.log" ||
    ! ls "$guest_dir"/guest-crash-* >/dev/null 2>&1; then
    tail -n 30 "$guest_dir/guest.log" >&2
    echo "libvmm: guest_fuzz did not find the planted bug (exit $rc)" >&2
    exit 1
else
    grep -E "guest_fuzz: the guest crashed|stat::number_of_executed_units|stat::average_exec_per_sec" \
        "$guest_dir/guest.log" || true
    guest_result="found the planted bug on $kvm_where"
fi
echo
echo "libvmm: KVM tests ran on: $kvm_where$summary"
echo "libvmm: spec_fuzz ran 60 s, snapshot_fuzz and sandbox_elf_fuzz 30 s each, on the host," \
    "without a crash or leak"
echo "libvmm: guest_fuzz $guest_result"
