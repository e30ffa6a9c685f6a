#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a newc initramfs: busybox, an /init script and, optionally, kernel
modules with their dependencies resolved from the modules themselves.

    initramfs.py OUT --busybox PATH --init FILE [--modules DIR --load NAME,...]

DIR is a kernel package's lib/modules/<version> tree. Each module's
dependencies come from the `depends=` entry of its own .modinfo section (the
package ships no modules.dep); names listed in DIR/modules.builtin are built
into the kernel and need nothing. The modules go under /lib/modules in the
archive, and /modules.order lists their file names, dependencies first, in the
order /init must insmod them.
"""
import argparse
import os
import struct
import sys


def fail(msg):
    sys.exit("initramfs: " + msg)


def modname(filename):
    """Module name of a .ko file name: kvm-amd.ko -> kvm_amd."""
    return os.path.basename(filename).split(".ko")[0].replace("-", "_")


def modinfo(path):
    """The key=value pairs of an ELF64 module's .modinfo section."""
    with open(path, "rb") as f:
        d = f.read()
    if d[:4] != b"\x7fELF" or d[4] != 2:
        fail("%s is not an ELF64 module" % path)
    shoff, = struct.unpack_from("<Q", d, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", d, 0x3A)
    if shoff == 0 or shstrndx >= shnum:
        fail("%s has no section table" % path)

    def section(i):
        _, _, _, _, off, size = struct.unpack_from("<IIQQQQ", d, shoff + i * shentsize)
        return off, size

    stroff, _ = section(shstrndx)
    for i in range(shnum):
        name_off, = struct.unpack_from("<I", d, shoff + i * shentsize)
        end = d.index(b"\0", stroff + name_off)
        if d[stroff + name_off:end] == b".modinfo":
            off, size = section(i)
            info = {}
            for item in d[off:off + size].split(b"\0"):
                key, sep, value = item.decode("utf-8", "replace").partition("=")
                if sep:
                    info.setdefault(key, value)
            return info
    fail("%s has no .modinfo section" % path)


def resolve(moddir, roots):
    """Module files to load, dependencies first; built-in modules skipped."""
    paths = {}
    for top, _, files in os.walk(os.path.join(moddir, "kernel")):
        for fn in files:
            if ".ko" in fn:
                paths[modname(fn)] = os.path.join(top, fn)
    builtin = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            builtin = {modname(line.strip()) for line in f if line.strip()}
    except OSError:
        pass
    order, state = [], {}

    def visit(name, chain):
        name = name.replace("-", "_")
        if state.get(name) == "done" or (name in builtin and name not in paths):
            return
        if state.get(name) == "visiting":
            fail("module dependency cycle: " + " -> ".join(chain + [name]))
        if name not in paths:
            fail("module %s (needed by %s) is neither in %s nor built in"
                 % (name, " -> ".join(chain) or "the list", moddir))
        state[name] = "visiting"
        deps = modinfo(paths[name]).get("depends", "")
        for dep in filter(None, deps.split(",")):
            visit(dep, chain + [name])
        state[name] = "done"
        order.append(paths[name])

    for root in roots:
        visit(root, [])
    return order


class Cpio:
    """A newc ("070701") archive, the format the kernel unpacks."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 0

    def add(self, name, mode, data=b""):
        self.ino += 1
        name_b = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name_b), 0)
        self.out += ("070701" + "".join("%08X" % v for v in fields)).encode() + name_b
        self.out += b"\0" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\0" * (-len(self.out) % 4)

    def finish(self):
        self.ino = -1
        self.add("TRAILER!!!", 0)
        return bytes(self.out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--busybox", required=True)
    ap.add_argument("--init", required=True, help="the /init script")
    ap.add_argument("--modules", help="a lib/modules/<version> directory")
    ap.add_argument("--load", default="", help="comma-separated module names")
    a = ap.parse_args()

    c = Cpio()
    for d in ("bin", "dev", "proc", "sys", "lib", "lib/modules"):
        c.add(d, 0o040755)
    with open(a.busybox, "rb") as f:
        c.add("bin/busybox", 0o100755, f.read())
    with open(a.init, "rb") as f:
        c.add("init", 0o100755, f.read())
    roots = [n for n in a.load.split(",") if n]
    if roots:
        if not a.modules:
            fail("--load needs --modules")
        order = resolve(a.modules, roots)
        for p in order:
            with open(p, "rb") as f:
                c.add("lib/modules/" + os.path.basename(p), 0o100644, f.read())
        listing = "".join(os.path.basename(p) + "\n" for p in order)
        c.add("modules.order", 0o100644, listing.encode())
    tmp = a.out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(c.finish())
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
