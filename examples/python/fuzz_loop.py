#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A coverage-guided fuzz loop in Python over libvmm's fuzz harness: the
target is the C example's (examples/fuzz/target.c, a CPL 3 guest with clang's
8-bit coverage counters), run in a VM that is reset to a snapshot before each
input. It stops at the first crash and prints it.

    fuzz_loop.py [--seconds N] [--seed N] [--dict FILE] [TARGET.elf]

TARGET.elf defaults to the build tree's build/examples/fuzz_target.elf, the
dictionary of the target's tokens (mutations insert them) to
examples/fuzz/target.dict.
Exit status: 0 a crash was found, 1 none within the time, 2 a set-up error."""
import argparse
import os
import random
import sys
import time

import libvmm
from libvmm import FuzzOutcome, X86Exceptions, X86Mode

# examples/fuzz/target.h
RAM_SIZE = 0x200000
STACK_TOP = 0x9000
COVERAGE_ADDR, COVERAGE_SIZE = 0x40000, 0x1000
INPUT_ADDR, INPUT_MAX = 0x100000, 0x1000
DEBUG_EXIT_ADDR = 0xD0000000

MAX_LEN = 256
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, ord("!"), ord("a"), ord("x"))
VECTORS = {0: "#DE", 6: "#UD", 13: "#GP", 14: "#PF", libvmm.FUZZ_VECTOR_SHUTDOWN: "triple fault"}


def bucket(c):
    """A counter as one bit per range, as AFL does: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+."""
    if c <= 3:
        return (0, 1, 2, 4)[c]
    for bit, top in ((8, 7), (16, 15), (32, 31), (64, 127)):
        if c <= top:
            return bit
    return 128


BUCKET = bytes(bucket(c) for c in range(256))


def read_dict(path):
    """Tokens from a libFuzzer-style dictionary: one "quoted" token a line."""
    tokens = []
    with open(path, "rb") as f:
        for line in f:
            line = line.strip()
            if line.startswith(b'"') and line.endswith(b'"') and len(line) > 2:
                tokens.append(line[1:-1].decode("unicode_escape").encode("latin-1"))
    return tokens


def mutate(rng, data, tokens):
    d = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7 if tokens else 6)
        if op == 0 and d:
            d[rng.randrange(len(d))] = rng.randrange(256)
        elif op == 1 and d:
            d[rng.randrange(len(d))] ^= 1 << rng.randrange(8)
        elif op == 2 and len(d) < MAX_LEN:
            d.insert(rng.randrange(len(d) + 1), rng.randrange(256))
        elif op == 3 and d:
            del d[rng.randrange(len(d))]
        elif op == 4 and d:
            d[rng.randrange(len(d))] = rng.choice(INTERESTING)
        elif op == 5:
            d += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            del d[MAX_LEN:]
        elif op == 6:  # a token of the target's, inserted or written over
            at, t = rng.randrange(len(d) + 1), rng.choice(tokens)
            d[at:at + (len(t) if rng.randrange(2) else 0)] = t
            del d[MAX_LEN:]
    return bytes(d)


def build_vm(target):
    vm = libvmm.Vm()
    vm.map(0, RAM_SIZE)
    vm.attach("debug-exit", {"mmio": DEBUG_EXIT_ADDR, "size": 4})
    entry = vm.load_elf(target)
    vm.vcpu(0).setup(X86Mode.LONG, entry=entry, stack=STACK_TOP, cpl=3,
                     exceptions=X86Exceptions.REPORT)
    return vm


def main():
    top = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--dict", default=os.path.join(top, "examples", "fuzz", "target.dict"),
                    help="the target's tokens, libFuzzer's format ('' for none)")
    ap.add_argument("target", nargs="?",
                    default=os.path.join(top, "build", "examples", "fuzz_target.elf"))
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int(time.time())
    rng = random.Random(seed)
    tokens = read_dict(a.dict) if a.dict else []
    try:
        vm = build_vm(a.target)
        fuzz = libvmm.Fuzz(vm, INPUT_ADDR, 8 + INPUT_MAX, coverage_addr=COVERAGE_ADDR,
                           coverage_size=COVERAGE_SIZE, time_limit=0.1,
                           keep_page_tables=True)  # the target never writes its page tables
    except libvmm.VmmError as e:
        print("fuzz_loop: %s" % e, file=sys.stderr)
        return 2
    print("fuzzing %s for at most %.0f s, seed %d" % (a.target, a.seconds, seed))
    corpus, seen = [b""], 0  # seen: every bucket bit reached, one byte per counter
    execs, t0 = 0, time.monotonic()
    last, crash = t0, None
    with vm, fuzz:
        cov = fuzz.coverage  # a view of the counters: it follows every run
        while time.monotonic() - t0 < a.seconds:
            data = mutate(rng, rng.choice(corpus), tokens)
            r = fuzz.run(data)
            execs += 1
            if r.outcome == FuzzOutcome.CRASH:
                crash = (data, r)
                break
            reached = int.from_bytes(cov.tobytes().translate(BUCKET), "little")
            if reached & ~seen:
                seen |= reached
                corpus.append(data)
            now = time.monotonic()
            if now - last >= 1:
                print("#%d  %.0f execs/s  corpus %d" % (execs, execs / (now - t0), len(corpus)),
                      flush=True)
                last = now
        st = fuzz.stats
    elapsed = time.monotonic() - t0
    print("%d execs in %.2f s: %.0f execs/s (reset %.1f us, run %.1f us on average)"
          % (execs, elapsed, execs / elapsed, st["reset_ns"] / 1e3 / max(st["runs"], 1),
             st["run_ns"] / 1e3 / max(st["runs"], 1)))
    if crash is None:
        print("no crash found in %.0f s" % a.seconds)
        return 1
    data, r = crash
    print("CRASH: %s (vector %d, error code 0x%x) at rip 0x%x, address 0x%x"
          % (VECTORS.get(r.vector, "exception"), r.vector, r.error_code, r.rip, r.address))
    print("input: %s" % data.hex(" "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
