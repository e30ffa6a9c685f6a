#!/bin/sh
# SPDX-License-Identifier: MIT
# The layers' one direction (docs/architecture.md), checked on the sources:
# - device models (lib/devices, lib/virtio) include the device host
#   (lib/core/devhost.h, util.h) and public headers, never the core's
#   internal.h nor anything of lib/hv;
# - lib/hv includes nothing of lib/core but util.h;
# - no file under lib/ but lib/hv includes <linux/kvm.h>, and the rest of
#   the library reaches the hypervisor only through lib/hv/hv.h (the
#   backend seam), never a backend's own header (hv/kvm.h, ...);
# - no file under lib/ but lib/hv names a KVM ioctl in its code.
# Usage: tests/headers/check_layers.sh SOURCE_DIR. Prints each offending line; exit 1 if any.
top=${1:?usage: check_layers.sh SOURCE_DIR}
cd "$top" || exit 2
bad=0
report() {
    if [ -n "$2" ]; then
        printf '%s:\n%s\n' "$1" "$2"
        bad=1
    fi
}
report "device models reach into the core or the hypervisor layer" \
    "$(grep -Hn '#include "[^"]*\(internal\.h\|hv/[^"]*\)"' lib/devices/*.[ch] lib/virtio/*.[ch])"
report "lib/hv includes the core beyond util.h" \
    "$(grep -Hn '#include "\.\./core/' lib/hv/*.[ch] | grep -v '"\.\./core/util\.h"')"
report "<linux/kvm.h> outside lib/hv" \
    "$(grep -rHn '#include <linux/kvm\.h>' lib | grep -v '^lib/hv/')"
report "a backend's own header outside lib/hv (use hv/hv.h)" \
    "$(grep -rHn '#include "[^"]*hv/[^"]*"' lib | grep -v '^lib/hv/' | grep -v 'hv/hv\.h"')"
# Comments may name KVM's ioctls; code may not (lines that are not comments).
report "KVM ioctls named outside lib/hv" \
    "$(grep -rHn '\bKVM_[A-Z_0-9]*\b' lib --include=*.c --include=*.h | grep -v '^lib/hv/' |
        grep -v '^[^:]*:[0-9]*: *\(/\*\|\*\|//\)' | grep -v '/\*.*KVM_.*\*/' | grep -v '"[^"]*KVM_[^"]*"')"
n=$(ls lib/devices/*.[ch] lib/virtio/*.[ch] lib/hv/*.[ch] | wc -l)
[ "$bad" = 0 ] && echo "layers: $n files of lib/devices, lib/virtio and lib/hv keep to their side"
exit "$bad"
