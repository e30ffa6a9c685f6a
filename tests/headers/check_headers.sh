#!/bin/sh
# SPDX-License-Identifier: MIT
# Every public header compiles on its own as C99 (-pedantic -Werror) and as
# C++, and every exported function carries a doc comment.
set -eu
inc=$1
cc=${2:-cc}
cxx=${3:-c++}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
for h in "$inc"/libvmm/*.h "$inc"/libvmm/sys/*.h; do
    name=${h#"$inc"/libvmm/}
    printf '#include <libvmm/%s>\nint main(void) { return 0; }\n' "$name" >"$tmp/t.c"
    if ! $cc -std=c99 -pedantic -Wall -Wextra -Werror -I"$inc" -c "$tmp/t.c" -o "$tmp/t.o"; then
        echo "FAIL: $name does not compile alone as C99"
        exit 1
    fi
    cp "$tmp/t.c" "$tmp/t.cpp"
    if ! $cxx -std=c++11 -pedantic -Wall -Wextra -Werror -I"$inc" -c "$tmp/t.cpp" -o "$tmp/t.o"; then
        echo "FAIL: $name does not compile alone as C++"
        exit 1
    fi
    # The line before each VMM_EXTERN declaration must close a comment.
    undocumented=$(awk '/VMM_EXTERN/ && $0 !~ /define/ { if (prev !~ /\*\/[ \t]*$/) print FILENAME ":" FNR ": " $0 } NF { prev = $0 }' "$h")
    if [ -n "$undocumented" ]; then
        echo "FAIL: undocumented public functions:"
        echo "$undocumented"
        exit 1
    fi
    n=$((n + 1))
done
echo "headers: $n compiled alone as C99 and C++, all exported functions documented"
