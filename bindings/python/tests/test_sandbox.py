# SPDX-License-Identifier: MIT
"""Sandboxes and the fuzz harness, on a real KVM."""
import ctypes
import os
import struct

import pytest

import libvmm
from libvmm import FuzzOutcome, SandboxAction, SandboxOutcome, X86Exceptions, X86Mode

from conftest import guest, program


def test_hello_and_args(kvm):
    with libvmm.Sandbox() as sb:
        sb.load(program("hello"))
        r = sb.run()
        assert r.outcome == SandboxOutcome.EXITED and r.exit_status == 0
        assert r.stdout == b"hello from the sandbox\n" and r.stderr == b""
        assert r.syscalls > 0
    with libvmm.Sandbox() as sb:
        sb.load(program("exit3"))
        r = sb.run()
        assert r.outcome == SandboxOutcome.EXITED and r.exit_status == 3


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def test_stdin_and_reset_cycles(kvm):
    """1,000 reset+run cycles leave the process's descriptors and RSS as they were."""
    # No transparent huge pages for this process: khugepaged may collapse a
    # sparsely used region at any time, adding up to 2 MiB to RSS without any
    # allocation (PR_SET_THP_DISABLE, 41).
    assert ctypes.CDLL(None, use_errno=True).prctl(41, 1, 0, 0, 0) == 0
    fds = len(os.listdir("/proc/self/fd"))
    with libvmm.Sandbox(memory_size=32 << 20) as sb:
        sb.load(program("cat"))

        def cycle(i):
            r = sb.run(stdin=b"call %d" % i)
            assert r.outcome == SandboxOutcome.EXITED and r.stdout == b"CALL %d" % i
            sb.reset()
        for i in range(100):  # warm up: guest pages touched, allocator pools filled
            cycle(i)
        rss, open_fds = rss_kib(), len(os.listdir("/proc/self/fd"))
        for i in range(1000):
            cycle(i)
        assert len(os.listdir("/proc/self/fd")) == open_fds
        grown = rss_kib() - rss
        assert grown < 1024, "RSS grew by %d KiB over 1,000 cycles" % grown
    assert len(os.listdir("/proc/self/fd")) == fds


def test_host_functions(kvm):
    with libvmm.Sandbox() as sb:
        sb.register("upper", lambda data: data.upper())
        sb.register("add", lambda data: struct.pack("<q", sum(struct.unpack("<qq", data)))
                    if len(data) == 16 else -33)  # -EDOM
        sb.load(program("hostcall"))
        r = sb.run()
        assert r.outcome == SandboxOutcome.EXITED
        assert b"upper: 10 HELLO HOST\n" in r.stdout
        assert b"add: 8 1234567890100\n" in r.stdout
        assert b"add short: -33\n" in r.stdout
        assert b"nosuch: -2\n" in r.stdout


def test_host_function_exception_reaches_run(kvm):
    with libvmm.Sandbox() as sb:
        def upper(data):
            raise ZeroDivisionError("from the host function")
        sb.register("upper", upper)
        sb.register("add", lambda data: b"")
        sb.load(program("hostcall"))
        with pytest.raises(ZeroDivisionError, match="from the host function"):
            sb.run()


def test_policy(kvm):
    calls = []

    def policy(sb, call):
        calls.append(call.nr)
        if call.nr == 110:  # getppid
            call.ret = 4242
            return SandboxAction.HANDLED
        return None
    with libvmm.Sandbox(policy=policy) as sb:
        sb.load(program("ppid"))
        r = sb.run()
        assert r.stdout == b"ppid 4242\n" and 110 in calls

    def killer(sb, call):
        # musl's stdio writes with writev (20); write (1) for good measure.
        return SandboxAction.KILL if call.nr in (1, 20) else SandboxAction.DEFAULT
    with libvmm.Sandbox(policy=killer) as sb:
        sb.load(program("hello"))
        r = sb.run()
        assert r.outcome == SandboxOutcome.KILLED and r.stdout == b""

    def raises(sb, call):
        raise LookupError("policy failed on %d" % call.nr)
    with libvmm.Sandbox(policy=raises) as sb:
        sb.load(program("hello"))
        with pytest.raises(LookupError, match="policy failed"):
            sb.run()


def test_limits_and_faults(kvm):
    with libvmm.Sandbox(time_limit=0.3) as sb:
        sb.load(program("loop"))
        assert sb.run().outcome == SandboxOutcome.TIMEOUT
    with libvmm.Sandbox() as sb:
        sb.load(program("nullptr"))
        r = sb.run()
        assert r.outcome == SandboxOutcome.FAULT and r.fault["vector"] == 14
    with pytest.raises(libvmm.InvalidArgument):
        libvmm.Sandbox(memory_size=12345)
    with libvmm.Sandbox() as sb, pytest.raises(libvmm.InvalidArgument):
        sb.load(program("hello_dyn"))


def fuzz_vm():
    vm = libvmm.Vm()
    vm.map(0, 2 << 20)
    vm.attach("debug-exit", {"mmio": "0xd0000000", "size": 4})
    vm.load_flat(guest("fuzz_cases"), 0x10000)
    vm.vcpu(0).setup(X86Mode.LONG, entry=0x10000, stack=0x9000, cpl=3,
                     exceptions=X86Exceptions.REPORT)
    return vm


def test_fuzz(kvm):
    with fuzz_vm() as vm, libvmm.Fuzz(vm, 0x100000, 8 + 4096, coverage_addr=0x40000,
                                      coverage_size=256) as f:
        r = f.run(b"\x00ab")
        assert r.outcome == FuzzOutcome.OK and r.status == 0
        cov = f.coverage
        assert len(cov) == 256 and cov[0] == 1 and cov[ord("a")] == 1 and cov[ord("c")] == 0
        r = f.run(b"\x01")
        assert r.outcome == FuzzOutcome.STATUS and r.status == 7
        r = f.run(b"\x02")
        assert r.outcome == FuzzOutcome.CRASH and r.vector == 6
        r = f.run(b"\x03")
        assert r.outcome == FuzzOutcome.CRASH and r.vector == 14 and r.address == 0x5000000000
        assert f.stats["runs"] == 4 and f.stats["crashes"] == 2
        with pytest.raises(libvmm.OutOfRange):
            f.run(b"x" * 5000)
        assert f.snapshot.memory_size > 0
