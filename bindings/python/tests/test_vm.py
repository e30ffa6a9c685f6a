# SPDX-License-Identifier: MIT
"""VMs, vCPUs, exits, devices (built-in and written in Python), snapshots,
specs, logging and threads, on a real KVM."""
import json
import logging
import os
import threading
import time
import traceback

import pytest

import libvmm
from libvmm import ExitReason, MemFlags, Space, X86Mode

from conftest import TOP, guest

RAM = 2 << 20
LOAD = 0x10000
STACK = 0x9000


def make_vm(name, devices=(("debug-exit", {"size": 1}),), mode=X86Mode.LONG, cpl=0, **kw):
    vm = libvmm.Vm(**kw)
    vm.map(0, RAM)
    vm.load_flat(guest(name), LOAD)
    devs = [vm.attach(t, c) for t, c in devices]
    cpu = vm.vcpu(0)
    cpu.setup(mode, entry=LOAD, stack=STACK, cpl=cpl)
    return vm, cpu, devs


def test_hello_serial_callback(kvm):
    out = []
    vm, cpu, (ser, _) = make_vm("hello_long", (("serial", None), ("debug-exit", {"size": 1})))
    with vm:
        ser.set_output(out.append)
        x = cpu.run()
        assert x.reason == ExitReason.STATUS and x.status == 0x40
        assert b"".join(out) == b"Hello from long mode\n"
        assert ser.stats()["tx_bytes"] == len(b"Hello from long mode\n")
        assert ser.id == "serial0" and ser.type == "serial"


def test_errors_carry_code_and_message(kvm):
    with libvmm.Vm() as vm:
        with pytest.raises(libvmm.InvalidArgument) as ei:
            vm.map(0x123, 4096)
        assert ei.value.code == -22 and ei.value.errno == 22 and str(ei.value)
        vm.map(0, RAM)
        with pytest.raises(libvmm.Exists):
            vm.map(0, 4096)
        with pytest.raises(libvmm.Fault):
            vm.read(RAM - 4, 8)
        with pytest.raises(libvmm.NotFound) as ei:
            vm.attach("no-such-device")
        assert "no-such-device" in str(ei.value)
        with pytest.raises(libvmm.ConfigError):
            vm.attach("serial", {"port": "nonsense"})
        with pytest.raises(libvmm.NotFound):
            vm.load_flat("/nonexistent/image", LOAD)
    with pytest.raises(libvmm.StateError):
        vm.read(0, 1)  # closed


def test_memory_views(kvm):
    with libvmm.Vm() as vm:
        vm.map(0, RAM, MemFlags.DIRTY_LOG)
        vm.write(0x5000, b"abcd")
        view = vm.memory(0x5000, 4096)
        assert bytes(view[:4]) == b"abcd"
        view[4:8] = b"efgh"  # no copy: straight into guest RAM
        buf = bytearray(8)
        assert vm.read_into(0x5000, buf) == 8 and bytes(buf) == b"abcdefgh"
        assert vm.read(0x5000, 8) == b"abcdefgh"
        # Caller-supplied RAM.
        host = libvmm._core._mmap_ram(1 << 20)
        vm.map(0x400000, 1 << 20, host=host)
        host[0:3] = b"xyz"
        assert vm.read(0x400000, 3) == b"xyz"
        vm.unmap(0x400000)
        with pytest.raises(libvmm.Fault):
            vm.read(0x400000, 1)


def test_unclaimed_io_answered_through_exit_data(kvm):
    vm, cpu, _ = make_vm("counter")
    with vm:
        total, seen = 0, []
        while True:
            x = cpu.run()
            seen.append(x.reason)
            if x.reason == ExitReason.IO and x.port == 0x700:
                if x.is_write:
                    total += int.from_bytes(x.data, "little")
                else:
                    with pytest.raises(ValueError):
                        x.data = b"\0" * 3  # a 4-byte access takes 4 bytes
                    x.data = total.to_bytes(4, "little")
            elif x.reason == ExitReason.MMIO:
                if x.is_write:
                    total += int.from_bytes(x.data, "little")
                else:
                    x.data = total.to_bytes(x.size, "little")
            else:
                break
        assert x.reason == ExitReason.STATUS and x.status == 84, seen
        with pytest.raises(AttributeError):
            x.data = b""  # a STATUS exit carries no data


class Counter:
    """The guest's counter device (guest/counter.S): port 0x700 and an MMIO mirror."""
    instances = []

    def __init__(self, ctx, config):
        self.total = config.get("start", 0)
        ctx.claim(Space.PIO, 0x700, 4)
        ctx.claim(Space.MMIO, 0xE0000000, 0x1000)
        Counter.instances.append(self)

    def read(self, rng, offset, size):
        return self.total

    def write(self, rng, offset, data):
        self.total += int.from_bytes(data, "little")

    def reset(self):
        self.total = 0

    def save(self):
        return self.total.to_bytes(8, "little")

    def load(self, blob):
        self.total = int.from_bytes(blob, "little")


class Broken(Counter):
    def write(self, rng, offset, data):
        raise RuntimeError("the device broke on %d" % int.from_bytes(data, "little"))


def test_python_device(kvm):
    libvmm.register_device("py-counter", Counter)
    try:
        with pytest.raises(libvmm.Exists):
            libvmm.register_device("py-counter", Counter)
        vm, cpu, (dev, _) = make_vm("counter", (("py-counter", {"start": 0}),
                                                ("debug-exit", {"size": 1})))
        with vm:
            x = cpu.run()
            assert x.reason == ExitReason.STATUS and x.status == 84
            assert Counter.instances[-1].total == 42
            assert dev.save() == (42).to_bytes(8, "little")
            dev.reset()
            assert Counter.instances[-1].total == 0
            dev.load((7).to_bytes(8, "little"))
            assert Counter.instances[-1].total == 7
            # A snapshot includes the Python device's state.
            snap = vm.snapshot()
            Counter.instances[-1].total = 99
            vm.restore(snap)
            assert Counter.instances[-1].total == 7
    finally:
        libvmm.unregister_device("py-counter")
    with pytest.raises(libvmm.NotFound):
        libvmm.Vm().attach("py-counter")


def test_python_device_exception_reaches_the_caller(kvm):
    libvmm.register_device("py-broken", Broken)
    try:
        vm, cpu, _ = make_vm("counter", (("py-broken", None), ("debug-exit", {"size": 1})))
        with vm, pytest.raises(RuntimeError, match="the device broke on 5") as ei:
            cpu.run()
        assert "in write" in "".join(traceback.format_tb(ei.value.__traceback__))
    finally:
        libvmm.unregister_device("py-broken")


def test_python_device_create_error(kvm):
    class Refuses:
        def __init__(self, ctx, config):
            raise ValueError("bad setting %r" % config)

    libvmm.register_device("py-refuses", Refuses)
    try:
        with libvmm.Vm() as vm, pytest.raises(ValueError, match="bad setting"):
            vm.attach("py-refuses", {"x": 1})
    finally:
        libvmm.unregister_device("py-refuses")


def test_kick_from_another_thread(kvm):
    vm, cpu, _ = make_vm("spin_cpl3", (), cpl=3)
    with vm:
        t = threading.Timer(0.3, cpu.kick)
        t.start()
        x = cpu.run()
        t.join()
        assert x.reason == ExitReason.KICKED
        cpu.set_time_budget(0.2)
        assert cpu.run().reason == ExitReason.TIMEOUT
        r = cpu.regs
        assert LOAD <= r.rip < LOAD + 16 and r.rax > 0
        r.rax = 0x1234
        cpu.regs = r
        assert cpu.regs.rax == 0x1234
        assert cpu.sregs.cs.l == 1 and cpu.sregs.cr0 & 1
        assert cpu.get_msrs([0xC0000080])[0xC0000080] & 0x500 == 0x500  # EFER LME|LMA


def test_vm_run_stop_and_on_exit(kvm):
    vm, cpu, _ = make_vm("spin_cpl3", (), cpl=3)
    with vm:
        threading.Timer(0.3, vm.stop).start()
        res = vm.run()
        assert res.reason == ExitReason.KICKED
    vm, cpu, _ = make_vm("counter")
    with vm:
        total = [0]

        def on_exit(index, x):
            assert index == 0
            if x.is_write:
                total[0] += int.from_bytes(x.data, "little")
            else:
                x.data = total[0].to_bytes(len(x.data), "little")
        res = vm.run(on_exit=on_exit, time_limit=30)
        assert res.reason == ExitReason.STATUS and res.status == 84


def test_vm_run_callback_exception(kvm):
    vm, cpu, _ = make_vm("counter")
    with vm, pytest.raises(KeyError, match="from on_exit"):
        vm.run(on_exit=lambda i, x: {}["from on_exit"])


def test_log_goes_to_python_logging(kvm, caplog):
    vm, cpu, _ = make_vm("counter")
    with vm, caplog.at_level(logging.WARNING, logger="libvmm"):
        vm.run(time_limit=30)  # unclaimed I/O without on_exit: a warning
    assert any(r.name == "libvmm" and r.levelno == logging.WARNING for r in caplog.records)


def test_snapshot_restore_and_file(kvm, tmp_path):
    out = []
    vm, cpu, (ser, _) = make_vm("hello_long", (("serial", None), ("debug-exit", {"size": 1})))
    with vm:
        ser.set_output(out.append)
        with vm.snapshot() as snap:
            assert snap.memory_size > 0
            assert cpu.run().status == 0x40
            vm.write(0x100000, b"dirt")
            vm.restore(snap)
            assert vm.read(0x100000, 4) == b"\0\0\0\0"
            assert vm.last_restore()["pages_copied"] >= 1
            assert cpu.run().status == 0x40
            path = tmp_path / "vm.snap"
            snap.save(path)
        loaded = libvmm.Snapshot.load(path)
        vm.restore(loaded)
        assert cpu.regs.rip == LOAD
        assert cpu.run().status == 0x40
        assert b"".join(out) == b"Hello from long mode\n" * 3
        with pytest.raises(libvmm.InvalidArgument):
            libvmm.Snapshot.from_bytes(b"not a snapshot")


def test_from_spec(kvm):
    specs = os.path.join(TOP, "examples", "specs")
    path = os.path.join(specs, "hello-long.json")
    with libvmm.Vm.from_spec(path) as vm:
        assert vm.spec_info["name"] == "hello-long" and vm.spec_info["vcpus"] == 1
        out = []
        vm.spec_info["console"].set_output(out.append)
        res = vm.run(time_limit=30)
        assert res.reason == ExitReason.STATUS and res.status == 64
        assert b"".join(out).startswith(b"Hello")
    spec = json.load(open(path))
    spec["devices"][0]["port"] = "not a port"
    with pytest.raises(libvmm.ConfigError) as ei:
        libvmm.Vm.from_spec(spec, base_dir=specs)
    assert str(ei.value).startswith("devices[0].port")


def test_spec_with_every_built_in_device(kvm, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * (1 << 20))
    uds = tmp_path / "vsock"
    spec = {
        "name": "every-device", "vcpus": 1, "memory": {"size": "2M"},
        "cpu": {"mode": "long", "stack": "0x9000"},
        "boot": {"kind": "flat", "path": guest("hello_long"), "address": "0x10000"},
        "devices": [
            {"type": "serial", "id": "com1", "console": True},
            {"type": "debug-exit", "id": "exit", "size": 1},
            {"type": "virtio-rng", "id": "rng", "mmio": "0xd0000000"},
            {"type": "virtio-blk", "id": "disk", "mmio": "0xd0001000", "path": str(disk),
             "readonly": True},
            {"type": "virtio-net", "id": "net", "mmio": "0xd0002000",
             "mac": "52:54:00:12:34:56"},
            {"type": "virtio-console", "id": "hvc", "mmio": "0xd0003000", "cols": 100},
            {"type": "virtio-vsock", "id": "vsock", "mmio": "0xd0004000", "guest_cid": 3,
             "uds_path": str(uds)},
        ],
    }
    with libvmm.Vm.from_spec(spec) as vm:
        assert vm.spec_info["name"] == "every-device"
        assert uds.is_socket()  # the vsock device listens while the VM lives
        out = []
        vm.spec_info["console"].set_output(out.append)
        # Every built-in device saves its state: the VM is snapshotted, run,
        # restored and run again, with the same outcome both times.
        snap = vm.snapshot()
        for _ in range(2):
            out.clear()
            res = vm.run(time_limit=30)
            assert res.reason == ExitReason.STATUS and res.status == 0x40
            assert b"".join(out) == b"Hello from long mode\n"
            vm.restore(snap)
    assert not uds.exists()  # and removes its socket when destroyed
    # Each device's own keys are checked, with the JSON path in the message.
    for i, key, bad in ((2, "max_bytes", 0), (3, "path", str(tmp_path / "none")),
                        (4, "mac", "01:00:00:00:00:00"), (5, "cols", 0),
                        (6, "guest_cid", 2)):
        broken = json.loads(json.dumps(spec))
        broken["devices"][i][key] = bad
        with pytest.raises(libvmm.VmmError) as ei:
            libvmm.Vm.from_spec(broken)
        assert str(ei.value).startswith("devices[%d]" % i), str(ei.value)


def test_host_info(kvm):
    assert kvm.api_version == 12
    assert kvm.paging in libvmm.Paging
    assert kvm.caps & libvmm.HostCaps.DIRTY_LOG


def test_finalizer_closes_forgotten_vms(kvm):
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        vm = libvmm.Vm()
        vm.map(0, RAM)
        vm.vcpu(0)
        del vm
    import gc
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= fds + 2


def test_gil_released_while_guest_runs(kvm):
    vm, cpu, _ = make_vm("spin_cpl3", (), cpl=3)
    ticks = []

    def count():
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            ticks.append(1)
        cpu.kick()
    with vm:
        t = threading.Thread(target=count)
        t.start()
        x = cpu.run()
        t.join()
        assert x.reason == ExitReason.KICKED
        assert len(ticks) > 1000  # Python ran while the guest spun
