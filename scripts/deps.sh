#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian packages libvmm needs to build and test, if any is missing
# (qemu-system-x86 and busybox-static: the nested test VM of scripts/with-kvm.sh;
# python3-venv, -setuptools, -wheel and -pytest: the Python bindings, offline;
# golang-go: the Go bindings, standard library only).
set -eu
pkgs="cmake make gcc g++ binutils pkg-config libjson-c-dev uuid-dev libcmocka-dev python3 python3-jsonschema socat
      clang libclang-rt-14-dev libunicorn-dev musl-tools busybox-static qemu-system-x86
      python3-venv python3-setuptools python3-wheel python3-pytest golang-go"
missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    echo "libvmm: installing$missing"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi
