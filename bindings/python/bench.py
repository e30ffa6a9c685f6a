#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the Python binding adds per call, against the same work in C in the
same run (build/bench/libbench_pyref.so, loaded with ctypes, over the very
same VM and sandbox objects).

Output, one line per figure, as bench/bench_core prints them:
  RATIO  <name> <value>          Python time / C time; 1.000 = nothing added
  DETAIL <name> <value> <unit>   the absolute figures behind the ratios

  exit_roundtrip   one unclaimed port-I/O exit (guest `1: out %al, $0x80;
                   jmp 1b` at CPL0, long mode) through Vcpu.run(), over the
                   same through vmm_vcpu_run() in a C loop. DETAIL
                   exit_roundtrip_ctypes_us is a bare ctypes call of
                   vmm_vcpu_run() in a Python loop: the part of the cost that
                   is ctypes' own, the rest being the binding's Exit object.
  sandbox_cycle    Sandbox.run() + reset() of tests/sandbox/hello, over
                   vmm_sandbox_set_stdin() + vmm_sandbox_run() + reset in C.

Rounds alternate which side goes first; each ratio is the median of the
per-round ratios. Exit 77 when /dev/kvm cannot be used.

    bench.py [--quick]      (LIBVMM_BUILD_DIR: the build tree, default build/)"""
import ctypes
import os
import statistics
import sys
import time

import libvmm
from libvmm import ExitReason, X86Mode
from libvmm import _native

TOP = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.environ.get("LIBVMM_BUILD_DIR", os.path.join(TOP, "build"))
OUT_LOOP = b"\xe6\x80\xeb\xfc"  # 1: out %al, $0x80 ; jmp 1b


def last_error():
    m = _native.lib.vmm_error_last().contents.message
    return (m or b"").decode("utf-8", "replace")


def rounds(sides, n_rounds, alternations):
    """Per-round mean seconds of each side (a callable timing one batch), the
    sides run interleaved, in turn forwards and backwards."""
    times = [[] for _ in sides]
    for k in range(n_rounds):
        total = [0.0] * len(sides)
        for a in range(alternations):
            order = range(len(sides)) if (k + a) % 2 == 0 else reversed(range(len(sides)))
            for i in order:
                total[i] += sides[i]()
        for i, t in enumerate(total):
            times[i].append(t / alternations)
    return times


def c_loop(fn, handle, batch):
    """A side timed by one of bench_pyref's C loops over the C object handle."""
    def side():
        t = fn(handle, batch)
        if t < 0:
            raise RuntimeError("the C loop failed: %s" % last_error())
        return t
    return side


def report(name, ps, cs, n, unit_scale=1e6):
    ratio = statistics.median(p / c for p, c in zip(ps, cs))
    print("RATIO  %s %.3f" % (name, ratio))
    print("DETAIL %s_python_us %.3f us" % (name, statistics.median(ps) / n * unit_scale))
    print("DETAIL %s_c_us %.3f us" % (name, statistics.median(cs) / n * unit_scale))


def bench_exits(ref, quick):
    batch, n_rounds, alternations = (2000, 3, 2) if quick else (20000, 11, 4)
    with libvmm.Vm() as vm:
        vm.map(0, 2 << 20)
        vm.write(0x10000, OUT_LOOP)
        cpu = vm.vcpu(0)
        cpu.setup(X86Mode.LONG, entry=0x10000, stack=0x9000)
        h = ctypes.c_void_p(cpu._h)
        lib = _native.lib
        raw = _native.Exit()
        raw_ref = ctypes.byref(raw)

        def py():
            t0 = time.perf_counter()
            for _ in range(batch):
                if cpu.run().reason != ExitReason.IO:
                    raise RuntimeError("the guest left its loop")
            return time.perf_counter() - t0

        c = c_loop(ref.vmm_bench_vcpu_exits, h, batch)

        def bare():
            run = lib.vmm_vcpu_run
            t0 = time.perf_counter()
            for _ in range(batch):
                run(h, raw_ref)
            return time.perf_counter() - t0

        py(), c(), bare()  # warm up
        ps, cs, bs = rounds((py, c, bare), n_rounds, alternations)
        report("exit_roundtrip", ps, cs, batch)
        print("DETAIL exit_roundtrip_ctypes_us %.3f us" % (statistics.median(bs) / batch * 1e6))
        print("DETAIL exit_roundtrip_exits_per_batch %d count" % batch)


def bench_sandbox(ref, quick):
    batch, n_rounds, alternations = (20, 3, 2) if quick else (200, 11, 2)
    hello = os.path.join(BUILD, "tests", "sandbox", "hello")
    with libvmm.Sandbox() as sb:
        sb.load(hello)
        h = ctypes.c_void_p(sb.handle)

        def py():
            t0 = time.perf_counter()
            for _ in range(batch):
                r = sb.run()
                if r.exit_status != 0 or r.stdout != b"hello from the sandbox\n":
                    raise RuntimeError("hello did not run: %r" % (r,))
                sb.reset()
            return time.perf_counter() - t0

        c = c_loop(ref.vmm_bench_sandbox_cycles, h, batch)
        py(), c()
        ps, cs = rounds((py, c), n_rounds, alternations)
        report("sandbox_cycle", ps, cs, batch)
        print("DETAIL sandbox_cycle_cycles_per_batch %d count" % batch)


def main():
    quick = "--quick" in sys.argv[1:]
    try:
        info = libvmm.host_info()
    except libvmm.VmmError as e:
        print("bench.py: SKIP: /dev/kvm unusable: %s" % e, file=sys.stderr)
        return 77
    ref = ctypes.CDLL(os.path.join(BUILD, "bench", "libbench_pyref.so"))
    ref.vmm_bench_vcpu_exits.restype = ctypes.c_double
    ref.vmm_bench_vcpu_exits.argtypes = (ctypes.c_void_p, ctypes.c_int)
    ref.vmm_bench_sandbox_cycles.restype = ctypes.c_double
    ref.vmm_bench_sandbox_cycles.argtypes = (ctypes.c_void_p, ctypes.c_int)
    t0 = time.perf_counter()
    print("DETAIL host_backend_pvm %d bool" % info.pvm)
    bench_exits(ref, quick)
    bench_sandbox(ref, quick)
    print("DETAIL bench_total_s %.3f s" % (time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
