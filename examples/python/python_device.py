#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A device written in Python, driven by a guest: an adding machine at I/O
port 0x700 with a mirror in MMIO at 0xe0000000. The guest (guest/counter.S in
the build tree: build/guest/counter.bin) writes 5 and 7 to the port and 30
through MMIO, reads the sum back both ways and reports their total (84)
through a debug-exit device. The device also saves and loads its state, so
the VM can be snapshotted and run again.

    python_device.py [GUEST.bin]

Exit status: 0 when the guest reported 84 twice (before and after a restore),
1 otherwise, 2 on a set-up error."""
import os
import sys

import libvmm
from libvmm import ExitReason, Space, X86Mode

RAM, LOAD, STACK = 2 << 20, 0x10000, 0x9000


class Adder:
    """Adds what is written; a read returns the sum."""

    def __init__(self, ctx, config):
        self.total = config.get("start", 0)
        self.accesses = 0
        ctx.claim(Space.PIO, 0x700, 4)
        ctx.claim(Space.MMIO, 0xE0000000, 0x1000)

    def read(self, rng, offset, size):
        self.accesses += 1
        return self.total

    def write(self, rng, offset, data):
        self.accesses += 1
        self.total += int.from_bytes(data, "little")

    def reset(self):
        self.total = 0

    def save(self):
        return self.total.to_bytes(8, "little")

    def load(self, blob):
        self.total = int.from_bytes(blob, "little")


def main():
    top = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    image = sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "build", "guest",
                                                               "counter.bin")
    devices = []

    class Tracked(Adder):
        def __init__(self, ctx, config):
            super().__init__(ctx, config)
            devices.append(self)

    libvmm.register_device("py-adder", Tracked)
    try:
        with libvmm.Vm() as vm:
            vm.map(0, RAM)
            vm.load_flat(image, LOAD)
            dev = vm.attach("py-adder", {"start": 0})
            vm.attach("debug-exit", {"size": 1})
            cpu = vm.vcpu(0)
            cpu.setup(X86Mode.LONG, entry=LOAD, stack=STACK)
            results = []
            with vm.snapshot() as snap:  # the guest at its entry, the adder at 0
                for _ in range(2):
                    x = cpu.run()
                    adder = devices[-1]
                    print("guest exit %s; the adder holds %d, %d accesses so far; saved state %s"
                          % (x, adder.total, adder.accesses, dev.save().hex()))
                    results.append(x.reason == ExitReason.STATUS and x.status == 84)
                    vm.restore(snap)
    except libvmm.VmmError as e:
        print("python_device: %s" % e, file=sys.stderr)
        return 2
    finally:
        libvmm.unregister_device("py-adder")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
