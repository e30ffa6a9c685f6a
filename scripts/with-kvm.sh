#!/bin/sh
# SPDX-License-Identifier: MIT
# Run a command on a real KVM:
#
#   sh scripts/with-kvm.sh [--timeout S] [--memory MIB] [--cpus N] [--] CMD [ARGS...]
#   sh scripts/with-kvm.sh --print-host
#
# Where this host's /dev/kvm is usable, CMD runs here directly. Otherwise it
# runs inside a nested test VM: QEMU (TCG, software emulation) with an AMD CPU
# model that has SVM and nested paging, booting Debian's kernel with kvm-amd,
# the host's root shared over virtio-9p and entered with chroot, so that CMD
# runs in the same working directory, with the same environment and the same
# files. In the VM, /tmp is a tmpfs of its own; the working directory and this
# repository stay visible there even when they lie under /tmp.
#
# Either way CMD sees LIBVMM_TEST_HOST: host-pvm, host-vmx, host-svm or host
# (this host's /dev/kvm) or nested-svm (the nested VM). --print-host prints the
# value a command would see, and runs nothing.
#
# Exit status: CMD's own; in the nested VM, 124 when the time limit ended the
# VM, 123 when the VM froze (its kernel gave no sign of life for 90 s) and 125
# when the VM itself failed (no QEMU, no kernel, a module that does not load,
# QEMU aborting), each with one line "with-kvm: ..." on stderr.
# In the VM, CMD's stdin is /dev/null; its stdout and stderr stream live to
# this script's.
#
# Options (or variables):
#   --timeout S    LIBVMM_KVM_TIMEOUT  time limit of the whole VM, seconds (3600)
#   --memory MIB   LIBVMM_KVM_MEMORY   the VM's memory (4096)
#   --cpus N       LIBVMM_KVM_CPUS     the VM's vCPUs (1: with more, the VM's own
#                                      kernel has been seen to lock up under TCG)
#                  LIBVMM_KVM_FREEZE_AFTER  seconds without a heartbeat from the
#                                      VM's kernel before it counts as frozen (90)
#   LIBVMM_KVM_NESTED=1   use the nested VM even where /dev/kvm is usable
#   LIBVMM_LINUX_DIR      the kernel download (tests/linux/fetch_kernel.sh), which
#                         the Linux boot tests share; the VM's initramfs is cached
#                         there too (default: build/linux-kernel)
#
# The nested VM is for running tests and trying libvmm: everything in it runs
# under TCG, so it is slow, and no timing measured there means anything.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
timeout=${LIBVMM_KVM_TIMEOUT:-3600}
memory=${LIBVMM_KVM_MEMORY:-4096}
cpus=${LIBVMM_KVM_CPUS:-1}
freeze_after=${LIBVMM_KVM_FREEZE_AFTER:-90}

usage() {
    echo "usage: with-kvm.sh [--timeout S] [--memory MIB] [--cpus N] [--] CMD [ARGS...]" >&2
    echo "       with-kvm.sh --print-host" >&2
    exit 2
}
print_host=no
while [ $# -gt 0 ]; do
    case $1 in
    --print-host) print_host=yes; shift ;;
    --timeout) [ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
    --memory) [ $# -ge 2 ] || usage; memory=$2; shift 2 ;;
    --cpus) [ $# -ge 2 ] || usage; cpus=$2; shift 2 ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
    esac
done
[ $# -ge 1 ] || [ $print_host = yes ] || usage
for v in "$timeout" "$memory" "$cpus" "$freeze_after"; do
    case $v in '' | *[!0-9]*) echo "with-kvm: not a positive number: '$v'" >&2; exit 2 ;; esac
    [ "$v" -gt 0 ] || { echo "with-kvm: not a positive number: '$v'" >&2; exit 2; }
done

vm_fail() { # STATUS MESSAGE
    if [ -n "${job:-}" ] && [ -s "$job/console.log" ]; then
        echo "with-kvm: the last lines of the nested VM's console:" >&2
        grep -a -v 'LIBVMM-VM-HEARTBEAT' "$job/console.log" | tail -n 15 | sed 's/^/    /' >&2
    fi
    echo "with-kvm: $2" >&2
    exit "$1"
}

# Is this host's /dev/kvm usable: API version 12 and a VM can be created?
host_kvm() {
    [ -e /dev/kvm ] || return 1
    python3 - <<'PY' 2>/dev/null
import fcntl, os, sys
fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
if fcntl.ioctl(fd, 0xAE00) != 12:       # KVM_GET_API_VERSION
    sys.exit(1)
os.close(fcntl.ioctl(fd, 0xAE01, 0))    # KVM_CREATE_VM
PY
}

if [ "${LIBVMM_KVM_NESTED:-0}" != 1 ] && host_kvm; then
    if [ -d /sys/module/kvm_pvm ]; then
        LIBVMM_TEST_HOST=host-pvm
    elif [ -d /sys/module/kvm_intel ]; then
        LIBVMM_TEST_HOST=host-vmx
    elif [ -d /sys/module/kvm_amd ]; then
        LIBVMM_TEST_HOST=host-svm
    else
        LIBVMM_TEST_HOST=host
    fi
    export LIBVMM_TEST_HOST
    [ $print_host = no ] || { echo "$LIBVMM_TEST_HOST"; exit 0; }
    exec "$@"
fi
[ $print_host = no ] || { echo nested-svm; exit 0; }

# --- the nested VM -----------------------------------------------------------
command -v qemu-system-x86_64 >/dev/null 2>&1 ||
    vm_fail 125 "no usable /dev/kvm here and no qemu-system-x86_64 for the nested VM (run scripts/deps.sh)"
[ -x /bin/busybox ] ||
    vm_fail 125 "no /bin/busybox for the nested VM's initramfs (package busybox-static; run scripts/deps.sh)"

kdir=${LIBVMM_LINUX_DIR:-$top/build/linux-kernel}
sh "$top/tests/linux/fetch_kernel.sh" "$kdir" >/dev/null 2>"$kdir.fetch.log" || {
    cat "$kdir.fetch.log" >&2
    vm_fail 125 "could not fetch the kernel into $kdir"
}
rm -f "$kdir.fetch.log"

# The initramfs, rebuilt when the kernel, /init or the builder changed.
initrd=$kdir/with-kvm-initramfs.cpio
stale=no
for f in "$kdir/bzImage" "$top/scripts/with-kvm.init" "$top/scripts/initramfs.py"; do
    [ -s "$initrd" ] && [ ! "$f" -nt "$initrd" ] || stale=yes
done
if [ $stale = yes ]; then
    python3 "$top/scripts/initramfs.py" "$initrd" --busybox /bin/busybox \
        --init "$top/scripts/with-kvm.init" --modules "$kdir/modules" \
        --load kvm_amd,9p,9pnet_virtio,virtio_pci,tun >&2 ||
        vm_fail 125 "could not build the nested VM's initramfs from $kdir/modules"
fi

# The job: a script that restores this environment and directory and runs CMD.
# It lives in the build tree, which the VM sees through 9p.
jobs_dir=$(dirname "$kdir")/with-kvm
mkdir -p "$jobs_dir"
job=$(mktemp -d "$jobs_dir/job.XXXXXX")
case $job in *[!A-Za-z0-9/._+-]*)
    rm -rf "$job"
    vm_fail 125 "the job directory $job has characters the kernel command line cannot carry" ;;
esac
qemu=""
trap '[ -z "$qemu" ] || kill $qemu 2>/dev/null; rm -rf "$job"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
cwd=$(pwd)
{
    echo "# generated by with-kvm.sh"
    export -p | grep -v -E '^export (PWD|OLDPWD|SHLVL|LIBVMM_TEST_HOST)='
    echo "export LIBVMM_TEST_HOST=nested-svm"
    # A TMPDIR under /tmp is created in the VM's own /tmp.
    echo 'case ${TMPDIR:-} in /tmp/*) mkdir -p "$TMPDIR" ;; esac'
    echo "cd $(quote "$cwd") || exit 125"
    printf 'exec'
    for a in "$@"; do printf ' %s' "$(quote "$a")"; done
    echo
} >"$job/run.sh"
# Directories under /tmp that the VM must see: the working directory, this
# repository, the job.
for d in "$cwd" "$top" "$job"; do
    case $d in /tmp/?*) echo "$d" | cut -d/ -f1-3 ;; esac
done | sort -u >"$job/shares"

append="console=ttyS0 loglevel=4 panic=-1 mitigations=off highres=off nohz=off libvmm.job=$job"
# The job's stdout and stderr reach ours through FIFOs read by cat: QEMU never
# reopens our descriptors (a reopened file would have an offset of its own).
mkfifo "$job/out" "$job/err"
cat "$job/out" &
cat_out=$!
cat "$job/err" >&2 &
cat_err=$!
status=0
vm_cpu=qemu64,+svm,+npt,+ssse3,+sse4.1,+sse4.2,+popcnt
# The CPU: qemu64 with nested SVM and NPT, raised to the x86-64-v2 level
# (SSSE3, SSE4.1/4.2, POPCNT) that prebuilt code may assume: clang's libFuzzer
# runtime, which guest_fuzz links, uses POPCNT.
timeout -k 10 "$timeout" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu "$vm_cpu" -smp "$cpus" -m "$memory" \
    -nodefaults -no-user-config -display none -no-reboot \
    -kernel "$kdir/bzImage" -initrd "$initrd" -append "$append" \
    -virtfs local,path=/,mount_tag=host,security_model=passthrough,multidevs=remap \
    -chardev file,id=con,path="$job/console.log" -serial chardev:con \
    -chardev file,id=out,path="$job/out" -serial chardev:out \
    -chardev file,id=err,path="$job/err" -serial chardev:err \
    </dev/null 2>"$job/qemu.log" &
qemu=$!
# The VM's kernel writes a heartbeat to its console every 5 s. A VM that
# stays silent for $freeze_after s has frozen (its kernel no longer runs,
# whether QEMU idles or spins): end it then rather than at the time limit.
frozen=no
size=-1
last=$(date +%s)
while kill -0 $qemu 2>/dev/null; do
    sleep 2
    now=$(date +%s)
    s=$(stat -c %s "$job/console.log" 2>/dev/null || echo 0)
    if [ "$s" != "$size" ]; then
        size=$s
        last=$now
    elif [ $((now - last)) -ge "$freeze_after" ]; then
        frozen=yes
        kill $qemu 2>/dev/null || true
        break
    fi
done
wait $qemu || status=$?
qemu=""
# Release a cat still waiting for QEMU to open its FIFO (opening read-write
# never blocks), then let both drain.
exec 5<>"$job/out" 6<>"$job/err"
exec 5>&- 6>&-
wait $cat_out $cat_err || true

if [ -s "$job/status" ]; then
    exit "$(cat "$job/status")"
fi
why=$(grep -a -m1 'LIBVMM-VM-FAIL:' "$job/console.log" 2>/dev/null | sed 's/.*LIBVMM-VM-FAIL: //' || true)
if [ $frozen = yes ]; then
    vm_fail 123 "the nested VM froze: its kernel gave no sign of life for ${freeze_after} s and was ended (CMD: $*; a platform fault, see docs/testing.md)"
elif [ $status -eq 124 ] || [ $status -eq 137 ]; then
    vm_fail 124 "the nested VM reached its time limit of ${timeout} s and was ended (CMD: $*)"
elif [ -n "$why" ]; then
    vm_fail 125 "the nested VM failed: $why"
elif [ -s "$job/qemu.log" ]; then
    vm_fail 125 "QEMU failed (exit $status): $(grep -v '^$' "$job/qemu.log" | tail -n 1)"
elif grep -a -q 'Kernel panic' "$job/console.log" 2>/dev/null; then
    vm_fail 125 "the nested VM's kernel panicked: $(grep -a -m1 'Kernel panic' "$job/console.log")"
else
    vm_fail 125 "the nested VM stopped without the command's status (QEMU exit $status)"
fi
