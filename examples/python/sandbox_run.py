#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run a static x86-64 Linux program in a libvmm sandbox under a system-call
policy, and print what it did: each system call, its output and how it ended.

    sandbox_run.py [--deny NR ...] [--time-limit S] PROGRAM [ARG ...]

Every system call is logged; those named with --deny are answered with
-EPERM without reaching the sandbox's own handling. The program's standard
input is this process's. Exit status: the program's, 128 + the vector of a
fault, 124 on a time limit, 2 on a usage or set-up error."""
import argparse
import sys

import libvmm
from libvmm import SandboxAction, SandboxOutcome

EPERM = 1
NAMES = {0: "read", 1: "write", 9: "mmap", 10: "mprotect", 11: "munmap", 12: "brk",
         16: "ioctl", 20: "writev", 39: "getpid", 60: "exit", 63: "uname",
         110: "getppid", 158: "arch_prctl", 218: "set_tid_address", 228: "clock_gettime",
         231: "exit_group"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--deny", type=int, action="append", default=[], metavar="NR",
                    help="answer this system call number with -EPERM")
    ap.add_argument("--time-limit", type=float, default=10.0, metavar="S")
    ap.add_argument("program")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()

    calls = []

    def policy(sb, call):
        name = NAMES.get(call.nr, str(call.nr))
        if call.nr in a.deny:
            call.ret = -EPERM
            calls.append("%s%r -> denied" % (name, call.args[:3]))
            return SandboxAction.HANDLED
        calls.append("%s%r" % (name, call.args[:3]))
        return SandboxAction.DEFAULT

    stdin = b"" if sys.stdin.isatty() else sys.stdin.buffer.read()
    try:
        with libvmm.Sandbox(time_limit=a.time_limit, policy=policy) as sb:
            sb.load(a.program, argv=[a.program] + a.args)
            r = sb.run(stdin=stdin)
    except libvmm.VmmError as e:
        print("sandbox_run: %s" % e, file=sys.stderr)
        return 2
    for c in calls:
        print("syscall %s" % c)
    print("stdout: %r" % r.stdout)
    print("stderr: %r" % r.stderr)
    print("outcome: %s, exit status %d, %d system calls, %d denied by the sandbox"
          % (r.outcome.name, r.exit_status, r.syscalls, r.denied))
    if r.outcome == SandboxOutcome.EXITED:
        return r.exit_status
    if r.outcome == SandboxOutcome.FAULT:
        print("fault: vector %(vector)d at rip 0x%(rip)x, address 0x%(address)x" % r.fault)
        return 128 + r.fault["vector"]
    if r.outcome == SandboxOutcome.TIMEOUT:
        return 124
    return 1


if __name__ == "__main__":
    sys.exit(main())
