#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check docs/vm-spec.schema.json against what the spec parser accepts.

usage: check_schema.py SOURCE_DIR

- the schema itself is a valid draft 2020-12 schema;
- every examples/specs/*.json and the example specs in docs/spec.md validate;
- a set of good specs written below validate;
- a set of bad specs written below, each a valid base with one mistake the
  parser (lib/spec/spec.c) refuses, do not validate.

Needs the Debian package python3-jsonschema (scripts/deps.sh installs it).
"""
import copy
import glob
import json
import os
import re
import sys

try:
    import jsonschema
except ImportError:
    # CMake may have found a python3 (pyenv, a venv) that does not see Debian's
    # dist-packages: try the system interpreter once.
    system = "/usr/bin/python3"
    if (not os.environ.get("LIBVMM_SCHEMA_REEXEC") and os.access(system, os.X_OK)
            and os.path.realpath(system) != os.path.realpath(sys.executable)):
        os.environ["LIBVMM_SCHEMA_REEXEC"] = "1"
        os.execv(system, [system, os.path.abspath(__file__), *sys.argv[1:]])
    sys.exit("check_schema.py: the jsonschema module is missing "
             "(apt-get install python3-jsonschema, or run scripts/deps.sh)")

if len(sys.argv) != 2:
    sys.exit(__doc__)
SRC = sys.argv[1]

DELETE = object()


def strict_load(text):
    """json.loads, refusing what the spec parser refuses and Python accepts:
    duplicate keys and NaN/Infinity."""
    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                raise ValueError("duplicate key %r" % k)
            out[k] = v
        return out

    def constant(name):
        raise ValueError("%s is not JSON" % name)

    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


BASE = {
    "name": "t",
    "memory": {"size": "2M"},
    "cpu": {"mode": "long", "stack": "0x9000"},
    "boot": {"kind": "flat", "path": "guest.bin"},
    "devices": [
        {"type": "serial", "console": True},
        {"type": "debug-exit", "size": 1},
    ],
    "limits": {"time_budget_ms": 1000},
}


def with_(*changes):
    """BASE with changes applied: (path, value) pairs, path a tuple of keys
    and indexes (the index one past the end appends); value DELETE removes
    the key."""
    spec = copy.deepcopy(BASE)
    for path, value in changes:
        node = spec
        for key in path[:-1]:
            node = node[key]
        if value is DELETE:
            del node[path[-1]]
        elif isinstance(node, list) and path[-1] == len(node):
            node.append(value)
        else:
            node[path[-1]] = value
    return spec


GOOD = [
    ("linux", {"memory": {"size": "256M"},
               "boot": {"kind": "linux", "path": "bzImage", "initrd": "initramfs.cpio",
                        "cmdline": "console=ttyS0", "cpuid": "safe"},
               "devices": [{"type": "serial", "console": True},
                           {"type": "virtio-rng", "mmio": "0xd0000000", "irq": 5}]}),
    ("base", BASE),
    ("minimal", {"memory": {"size": 65536}, "boot": {"kind": "elf", "path": "g.elf"}}),
    ("number forms", with_((("memory", "size"), "0x200000"), (("cpu", "stack"), "011000"),
                           (("limits", "time_budget_ms"), "10K"), (("vcpus",), "0X2"))),
    ("1 TiB", with_((("memory", "size"), "1T"))),
    ("hugepages", with_((("memory", "size"), 4194304), (("memory", "hugepages"), True))),
    ("uuid upper case", with_((("uuid",), "123E4567-E89B-12D3-A456-426614174000"))),
    ("real mode", {"memory": {"size": "64K"},
                   "cpu": {"mode": "real", "cpl": "0", "stack": "0xfffe", "entry": "0xffff0"},
                   "boot": {"kind": "flat", "path": "r.bin", "address": "0x8000"}}),
    ("protected mode", with_((("cpu",), {"mode": "protected", "cpl": 3, "entry": 4294967295,
                                         "stack": "0xffffffff"}))),
    ("no boot, entry in a file", {"memory": {"size": "2M", "files": [
        {"path": "rom.bin", "address": "0xfff00000"}]}, "cpu": {"entry": "0xfff00000"}}),
    ("scheduling", with_((("cpu", "weight"), 512), (("cpu", "cap"), "50"),
                         (("cpu", "affinity"), [0, 0]))),
    ("plugin device", with_((("devices", 2), {
        "type": "plugin-counter", "plugin": "counter.so", "id": "c",
        "base": "0x700", "nested": {"a": [1, 2]}}))),
    ("serial at the top of MMIO", with_((("devices", 0, "mmio"), 18446744073709551608))),
    ("serial last port", with_((("devices", 0, "port"), 65528), (("devices", 0, "irq"), 23))),
    ("debug-exit last port", with_((("devices", 1, "port"), 65535))),
    ("debug-exit size 2", with_((("devices", 1, "size"), "0x2"), (("devices", 1, "port"), 65534))),
    ("no console", with_((("devices", 0, "console"), False))),
    ("irqchip", with_((("irqchip",), True))),
    ("entry at 2^64-1", with_((("cpu", "entry"), 18446744073709551615))),
    ("virtio-net on a TAP", with_((("devices", 2), {
        "type": "virtio-net", "mmio": "0xd0003000", "irq": 5, "mac": "52:54:00:Ab:cD:ef",
        "tap": "tap0"}))),
    ("virtio-net, callback backend", with_((("devices", 2), {
        "type": "virtio-net", "mmio": 3489673216, "backend": "callback"}))),
    ("virtio-console", with_((("devices", 2), {"type": "virtio-console", "mmio": "0xd0001000",
                                               "irq": 5, "backend": "stdio", "cols": 132,
                                               "rows": "50"}))),
    ("virtio-console, defaults", with_((("devices", 2), {"type": "virtio-console",
                                                         "mmio": "0xd0001000"}))),
    ("virtio-vsock", with_((("devices", 2), {
        "type": "virtio-vsock", "mmio": "0xd0000000", "irq": 5, "guest_cid": 4294967294,
        "uds_path": "v.sock"}))),
]

BAD = [
    ("a top-level array", []),
    ("unknown top-level key", with_((("kernel",), "vmlinuz"))),
    ("unknown memory key", with_((("memory", "shared"), True))),
    ("unknown cpu key", with_((("cpu", "smp"), 2))),
    ("unknown limits key", with_((("limits", "memory_mb"), 1))),
    ("missing memory", with_((("memory",), DELETE))),
    ("missing memory.size", with_((("memory", "size"), DELETE))),
    ("memory.size not a page multiple", with_((("memory", "size"), 4097))),
    ("memory.size above 1 TiB", with_((("memory", "size"), (1 << 40) + 4096))),
    ("memory.size below the tables' end", with_((("memory", "size"), 32768))),
    ("memory.size a fraction", with_((("memory", "size"), 4096.5))),
    ("memory.size negative", with_((("memory", "size"), -4096))),
    ("lower-case suffix", with_((("memory", "size"), "2m"))),
    ("8 is not octal", with_((("memory", "size"), "08"))),
    ("leading space", with_((("memory", "size"), " 4096"))),
    ("sign", with_((("memory", "size"), "+4096"))),
    ("trailing newline", with_((("memory", "size"), "4096\n"))),
    ("empty number", with_((("memory", "size"), ""))),
    ("memory.size null", with_((("memory", "size"), None))),
    ("hugepages with 3 MiB", with_((("memory", "size"), 3 << 20), (("memory", "hugepages"), True))),
    ("hugepages a string", with_((("memory", "hugepages"), "yes"))),
    ("17 files", with_((("memory", "files"),
                        [{"path": "f", "address": (1 << 30) + i * 4096} for i in range(17)]))),
    ("file without address", with_((("memory", "files"), [{"path": "f"}]))),
    ("file address unaligned", with_((("memory", "files"), [{"path": "f", "address": 4194305}]))),
    ("file with unknown key", with_((("memory", "files"), [{"path": "f", "address": "4M", "ro": 1}]))),
    ("name with a space", with_((("name",), "a b"))),
    ("name of 64 characters", with_((("name",), "x" * 64))),
    ("name with a newline", with_((("name",), "vm\n"))),
    ("uuid without dashes", with_((("uuid",), "123e4567e89b12d3a456426614174000"))),
    ("uuid in braces", with_((("uuid",), "{123e4567-e89b-12d3-a456-426614174000}"))),
    ("0 vCPUs", with_((("vcpus",), 0))),
    ("257 vCPUs", with_((("vcpus",), 257))),
    ("vcpus a boolean", with_((("vcpus",), True))),
    ("irqchip an integer", with_((("irqchip",), 1))),
    ("mode in capitals", with_((("cpu", "mode"), "Long"))),
    ("cpl 1", with_((("cpu", "cpl"), 1))),
    ("cpl \"1\"", with_((("cpu", "cpl"), "1"))),
    ("cpl 3 in real mode", {"memory": {"size": "1M"}, "cpu": {"mode": "real", "cpl": 3},
                            "boot": {"kind": "flat", "path": "r.bin"}}),
    ("real-mode entry at 1 MiB", {"memory": {"size": "2M"},
                                  "cpu": {"mode": "real", "entry": 1048576},
                                  "boot": {"kind": "flat", "path": "r.bin"}}),
    ("real-mode stack of 64 KiB", {"memory": {"size": "2M"},
                                   "cpu": {"mode": "real", "stack": 65536},
                                   "boot": {"kind": "flat", "path": "r.bin"}}),
    ("protected-mode entry at 4 GiB", with_((("cpu", "mode"), "protected"),
                                            (("cpu", "entry"), 1 << 32))),
    ("entry above 2^64-1", with_((("cpu", "entry"), 1 << 64))),
    ("weight 0", with_((("cpu", "weight"), 0))),
    ("weight 70000", with_((("cpu", "weight"), 70000))),
    ("cap 101", with_((("cpu", "cap"), 101))),
    ("empty affinity", with_((("cpu", "affinity"), []))),
    ("affinity as strings", with_((("cpu", "affinity"), ["0"]))),
    ("affinity CPU 64", with_((("cpu", "affinity"), [64]))),
    ("affinity not an array", with_((("cpu", "affinity"), 3))),
    ("boot kind linux with an address", with_((("boot", "kind"), "linux"),
                                              (("boot", "address"), "0x100000"))),
    ("initrd on a flat image", with_((("boot", "initrd"), "initrd.cpio"))),
    ("cmdline on a flat image", with_((("boot", "cmdline"), "console=ttyS0"))),
    ("linux cpuid unknown", with_((("boot", "kind"), "linux"), (("boot", "cpuid"), "fast"))),
    ("linux cmdline too long", with_((("boot", "kind"), "linux"),
                                     (("boot", "cmdline"), "x" * 2048))),
    ("boot kind sandbox (not available yet)", with_((("boot", "kind"), "sandbox"))),
    ("boot without kind", with_((("boot", "kind"), DELETE))),
    ("boot without path", with_((("boot", "path"), DELETE))),
    ("empty boot path", with_((("boot", "path"), ""))),
    ("elf with an address", with_((("boot",), {"kind": "elf", "path": "g.elf", "address": 0}))),
    ("flat image in the CPU tables", with_((("boot", "address"), 0x9000))),
    ("boot address at 2^52", with_((("boot", "address"), 1 << 52))),
    ("real-mode image at 1 MiB", {"memory": {"size": "2M"}, "cpu": {"mode": "real"},
                                  "boot": {"kind": "flat", "path": "r.bin",
                                           "address": 1048576}}),
    ("protected-mode image at 4 GiB", with_((("memory", "size"), "8G"),
                                            (("cpu", "mode"), "protected"),
                                            (("boot", "address"), 1 << 32))),
    ("no boot and no entry", with_((("boot",), DELETE))),
    ("devices not an array", with_((("devices",), {}))),
    ("65 devices", with_((("devices",), [{"type": "t%d" % i} for i in range(65)]))),
    ("device without type", with_((("devices", 0, "type"), DELETE))),
    ("device type in capitals", with_((("devices", 1, "type"), "Debug-Exit"))),
    ("device with fd", with_((("devices", 0, "fd"), 1))),
    ("empty device id", with_((("devices", 0, "id"), ""))),
    ("serial with an unknown key", with_((("devices", 0, "baud"), 9600))),
    ("virtio-vsock without guest_cid", with_((("devices", 2),
        {"type": "virtio-vsock", "mmio": 4096, "uds_path": "v.sock"}))),
    ("virtio-vsock guest_cid 2", with_((("devices", 2),
        {"type": "virtio-vsock", "mmio": 4096, "guest_cid": 2, "uds_path": "v.sock"}))),
    ("virtio-vsock guest_cid 2^32-1", with_((("devices", 2),
        {"type": "virtio-vsock", "mmio": 4096, "guest_cid": 4294967295, "uds_path": "v.sock"}))),
    ("virtio-vsock without uds_path", with_((("devices", 2),
        {"type": "virtio-vsock", "mmio": 4096, "guest_cid": 3}))),
    ("virtio-vsock with an unknown key", with_((("devices", 2),
        {"type": "virtio-vsock", "mmio": 4096, "guest_cid": 3, "uds_path": "v", "port": 1}))),
    ("serial port 65529", with_((("devices", 0, "port"), 65529))),
    ("serial irq 24", with_((("devices", 0, "irq"), 24))),
    ("serial with port and mmio", with_((("devices", 0, "port"), "0x2f8"),
                                        (("devices", 0, "mmio"), "0xd0000000"))),
    ("two consoles", with_((("devices", 2), {"type": "serial", "port": "0x2f8",
                                             "console": True}))),
    ("debug-exit as console", with_((("devices", 0, "console"), False),
                                    (("devices", 1, "console"), True))),
    ("plugin type as console", with_((("devices", 0, "console"), False),
                                     (("devices", 2), {"type": "plugin-counter",
                                                       "plugin": "counter.so",
                                                       "console": True}))),
    ("debug-exit with an unknown key", with_((("devices", 1, "code"), 1))),
    ("debug-exit size 3", with_((("devices", 1, "size"), 3))),
    ("debug-exit size \"3\"", with_((("devices", 1, "size"), "3"))),
    ("debug-exit port 65533 with size 4", with_((("devices", 1, "size"), DELETE),
                                                (("devices", 1, "port"), 65533))),
    ("debug-exit port 65535 with size 2", with_((("devices", 1, "size"), 2),
                                                (("devices", 1, "port"), 65535))),
    ("virtio-console without mmio", with_((("devices", 2), {"type": "virtio-console"}))),
    ("virtio-console backend fd", with_((("devices", 2), {"type": "virtio-console",
                                                          "mmio": "0xd0001000",
                                                          "backend": "fd"}))),
    ("virtio-console with out_fd", with_((("devices", 2), {"type": "virtio-console",
                                                           "mmio": "0xd0001000",
                                                           "out_fd": 1}))),
    ("virtio-console cols 0", with_((("devices", 2), {"type": "virtio-console",
                                                      "mmio": "0xd0001000", "cols": 0}))),
    ("virtio-console as console", with_((("devices", 0, "console"), False),
                                        (("devices", 2), {"type": "virtio-console",
                                                          "mmio": "0xd0001000",
                                                          "console": True}))),
    ("time budget above a year", with_((("limits", "time_budget_ms"), 31536000001))),
    ("limits not an object", with_((("limits",), 5))),
    ("virtio-net tap_fd", with_((("devices", 2), {
        "type": "virtio-net", "mmio": 0, "tap_fd": 3}))),
    ("virtio-net multicast mac", with_((("devices", 2), {
        "type": "virtio-net", "mmio": 0, "mac": "01:00:5e:00:00:01"}))),
    ("virtio-net mac with dashes", with_((("devices", 2), {
        "type": "virtio-net", "mmio": 0, "mac": "52-54-00-12-34-56"}))),
    ("virtio-net backend udp", with_((("devices", 2), {
        "type": "virtio-net", "mmio": 0, "backend": "udp"}))),
    ("virtio-net tap backend without tap", with_((("devices", 2), {
        "type": "virtio-net", "mmio": 0, "backend": "tap"}))),
    ("virtio-net callback backend with tap", with_((("devices", 2), {
        "type": "virtio-net", "mmio": 0, "backend": "callback", "tap": "t0"}))),
    ("virtio-net tap name with a slash", with_((("devices", 2), {
        "type": "virtio-net", "mmio": 0, "tap": "a/b"}))),
    ("virtio-net tap name too long", with_((("devices", 2), {
        "type": "virtio-net", "mmio": 0, "tap": "sixteen-chars-xx"}))),
    ("virtio-net unknown key", with_((("devices", 2), {
        "type": "virtio-net", "mmio": 0, "path": "x"}))),
]


def doc_examples(path):
    """The specs among the ```json blocks of docs/spec.md (objects with "memory")."""
    with open(path) as f:
        text = f.read()
    for i, block in enumerate(re.findall(r"```json\n(.*?)```", text, re.S)):
        try:
            spec = strict_load(block)
        except ValueError:
            continue
        if isinstance(spec, dict) and "memory" in spec:
            yield "docs/spec.md block %d" % (i + 1), spec


def main():
    with open(os.path.join(SRC, "docs", "vm-spec.schema.json")) as f:
        schema = strict_load(f.read())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    passed = failed = 0

    def result(ok, what, why=""):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
        print("%s %s%s" % ("ok  " if ok else "FAIL", what, (": " + why) if why else ""))

    examples = sorted(glob.glob(os.path.join(SRC, "examples", "specs", "*.json")))
    result(bool(examples), "examples/specs has specs")
    good = [(os.path.relpath(p, SRC), None, p) for p in examples]
    good += [(name, spec, None) for name, spec in doc_examples(os.path.join(SRC, "docs", "spec.md"))]
    good += [("good: " + name, spec, None) for name, spec in GOOD]
    for name, spec, path in good:
        if path:
            try:
                with open(path) as f:
                    spec = strict_load(f.read())
            except ValueError as e:
                result(False, name, str(e))
                continue
        errors = sorted(validator.iter_errors(spec), key=lambda e: list(e.absolute_path))
        result(not errors, name, "; ".join(
            "%s: %s" % ("/".join(map(str, e.absolute_path)) or "(spec)", e.message[:200])
            for e in errors[:3]))

    for name, spec in BAD:
        refused = not validator.is_valid(spec)
        result(refused, "bad: " + name, "" if refused else "accepted by the schema")

    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
