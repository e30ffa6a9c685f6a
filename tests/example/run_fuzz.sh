#!/bin/sh
# SPDX-License-Identifier: MIT
# Run examples/fuzz on its target for at most 120 s: it must find the planted
# bug (a wild write through an unchecked index: #GP or #PF) and write the
# crashing input, which must contain the path to the bug. Skips (77) when KVM
# is unusable, unless LIBVMM_REQUIRE_KVM=1.
fuzzer=$1
target=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$fuzzer" --seconds 120 --seed 1 --crash "$dir/crash.bin" "$target" >"$dir/out" 2>&1
rc=$?
tail -n 8 "$dir/out"
if [ $rc -eq 77 ]; then
    [ "${LIBVMM_REQUIRE_KVM:-0}" = 1 ] && exit 1
    exit 77
fi
[ $rc -eq 0 ] || { echo "run_fuzz: fuzz_example exited $rc" >&2; exit 1; }
grep -Eq '^CRASH: #(GP|PF) \(vector 1[34]' "$dir/out" || { echo "run_fuzz: no #GP/#PF crash reported" >&2; exit 1; }
grep -q 'execs/s' "$dir/out" || exit 1
# The crashing input starts with the magic and holds the 'x' '!' command.
head -c 4 "$dir/crash.bin" | grep -q '^FUZZ$' || { echo "run_fuzz: crash input lacks FUZZ" >&2; exit 1; }
grep -q 'x!' "$dir/crash.bin" || { echo "run_fuzz: crash input lacks x!" >&2; exit 1; }
# Replaying the input reproduces the crash deterministically is checked by the
# harness test; here the input must be the planted bug's.
exit 0
