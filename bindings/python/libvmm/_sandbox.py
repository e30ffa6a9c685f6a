# SPDX-License-Identifier: MIT
"""Sandboxes (a static Linux program in a VM) and the fuzz harness."""
from __future__ import annotations

import ctypes
import dataclasses
import weakref
from ctypes import byref, c_size_t, c_void_p
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

from . import _native as N
from ._core import Exit, Snapshot, Vm, _b, _Buffer, _Owned, _Path, _Pending, _read, _write
from .enums import FuzzOutcome, SandboxAction, SandboxFlags, SandboxOutcome
from .errors import check

_lib = N.lib


def _strv(items: Optional[Sequence[_Path]]) -> Optional[Any]:
    if items is None:
        return None
    arr = (ctypes.c_char_p * (len(items) + 1))()
    for i, s in enumerate(items):
        arr[i] = _b(s)
    arr[len(items)] = None
    return arr


class Syscall:
    """A system call the program made, as a policy sees it: ``nr``, ``args``
    (six ints) and ``ret``, the value to return when the policy answers
    HANDLED."""

    def __init__(self, raw: N.SandboxSyscall) -> None:
        self._raw = raw

    @property
    def nr(self) -> int:
        return self._raw.nr

    @property
    def args(self) -> Tuple[int, ...]:
        return tuple(self._raw.args)

    @property
    def ret(self) -> int:
        return self._raw.ret

    @ret.setter
    def ret(self, v: int) -> None:
        self._raw.ret = v

    def __repr__(self) -> str:
        return "<Syscall %d%r>" % (self.nr, self.args)


@dataclasses.dataclass
class SandboxResult:
    """How a sandbox run ended."""
    outcome: SandboxOutcome
    exit_status: int  #: EXITED: the exit status (low 8 bits)
    stdout: bytes  #: captured standard output (b"" when passed through)
    stderr: bytes
    fault: dict  #: FAULT: vector, error_code, address, rip
    exit: Exit  #: CRASHED: the vCPU exit
    syscalls: int  #: system calls made
    denied: int  #: of those, answered -ENOSYS by the default policy


class Sandbox(_Owned):
    """A static x86-64 Linux program (musl, static or static-PIE) in a VM.

    Sandbox(memory_size=64 MiB, stack_size=2 MiB, time_limit=None (seconds),
    max_output=1 MiB, stdout_fd=None, stderr_fd=None (capture; or a file
    descriptor to pass through), max_call_bytes=1 MiB, policy=None,
    oneshot=False). ``policy(sandbox, call)`` sees every system call first and
    returns SandboxAction.DEFAULT (or None), HANDLED (after setting
    ``call.ret``) or KILL. A context manager; close() frees it."""

    def __init__(self, memory_size: Optional[int] = None, stack_size: Optional[int] = None,
                 time_limit: Optional[float] = None, max_output: Optional[int] = None,
                 stdout_fd: Optional[int] = None, stderr_fd: Optional[int] = None,
                 max_call_bytes: Optional[int] = None,
                 policy: Optional[Callable[[Sandbox, Syscall],
                                           Optional[Union[SandboxAction, int]]]] = None,
                 oneshot: bool = False) -> None:
        self._pending = _Pending()
        self._fns: Dict[str, Any] = {}
        o = N.SandboxOptions()
        check(_lib.vmm_sandbox_options_init(byref(o), 1))
        o.flags = SandboxFlags.ONESHOT if oneshot else 0
        if memory_size is not None:
            o.memory_size = memory_size
        if stack_size is not None:
            o.stack_size = stack_size
        o.time_budget_ns = int((time_limit or 0) * 1e9)
        if max_output is not None:
            o.max_output = max_output
        o.stdout_fd = -1 if stdout_fd is None else stdout_fd
        o.stderr_fd = -1 if stderr_fd is None else stderr_fd
        if max_call_bytes is not None:
            o.max_call_bytes = max_call_bytes
        self._policy_cb: Optional[Any] = None
        if policy is not None:
            pending, me = self._pending, weakref.ref(self)

            def thunk(_opaque, _sb, call):
                try:
                    act = policy(me(), Syscall(call.contents))
                    return int(SandboxAction(act or 0))
                except BaseException as e:
                    pending.put(e)
                    return int(SandboxAction.KILL)
            self._policy_cb = N.SANDBOX_SYSCALL_FN(thunk)
            o.syscall = self._policy_cb
        h = c_void_p()
        check(_lib.vmm_sandbox_create(byref(h), byref(o)))
        self._own(h.value, _lib.vmm_sandbox_destroy)

    _what = "sandbox"

    def load(self, path: _Path, argv: Optional[Sequence[_Path]] = None,
             env: Optional[Sequence[_Path]] = None) -> None:
        """Load the ELF program; argv defaults to [path], env to none."""
        check(_lib.vmm_sandbox_load(self.handle, _b(path), _strv(argv), _strv(env)))

    def load_bytes(self, elf: _Buffer, argv: Sequence[_Path],
                   env: Optional[Sequence[_Path]] = None) -> None:
        """Load the ELF program from memory."""
        elf = bytes(elf)
        check(_lib.vmm_sandbox_load_buffer(self.handle, elf, len(elf), _strv(argv), _strv(env)))

    def register(self, name: str,
                 fn: Callable[[bytes], Optional[Union[_Buffer, int]]]) -> None:
        """A host function the program calls by name (sandbox_guest.h):
        ``fn(data: bytes) -> bytes`` (at most the program's output capacity; an
        int return is a negative errno for the program). An exception stops
        the run and is re-raised from run()."""
        pending, me = self._pending, weakref.ref(self)

        def thunk(_opaque, inp, n, out, cap):
            try:
                r = fn(ctypes.string_at(inp, n) if n else b"")
                if isinstance(r, int):
                    return r
                r = bytes(r or b"")
                if len(r) > cap:
                    raise ValueError("host function %s returned %d bytes, the program's buffer "
                                     "takes %d" % (name, len(r), cap))
                ctypes.memmove(out, r, len(r))
                return len(r)
            except BaseException as e:
                pending.put(e)
                sb = me()
                if sb is not None:
                    _lib.vmm_sandbox_stop(sb._h)
                return -5
        cb = N.SANDBOX_FN(thunk)
        check(_lib.vmm_sandbox_register(self.handle, _b(name), cb, None))
        self._fns[name] = cb

    def run(self, stdin: Optional[_Buffer] = b"") -> SandboxResult:
        """Run the program (once per load or reset) and return a SandboxResult.
        The GIL is released while it runs."""
        stdin = bytes(stdin or b"")
        check(_lib.vmm_sandbox_set_stdin(self.handle, stdin, len(stdin)))
        r = N.SandboxResult()
        rc = _lib.vmm_sandbox_run(self.handle, byref(r))
        self._pending.raise_if_any()
        check(rc)
        return SandboxResult(
            SandboxOutcome(r.outcome), r.status, self._output(1), self._output(2),
            {"vector": r.fault.vector, "error_code": r.fault.error_code,
             "address": r.fault.address, "rip": r.fault.rip},
            Exit(r.exit, live=False), r.syscalls, r.denied)

    def _output(self, fd: int) -> bytes:
        n = c_size_t()
        p = _lib.vmm_sandbox_output(self.handle, fd, byref(n))
        return ctypes.string_at(p, n.value) if p and n.value else b""

    def reset(self) -> None:
        """Return to the state right after loading."""
        check(_lib.vmm_sandbox_reset(self.handle))

    def stop(self) -> None:
        """End a run in progress (SandboxOutcome.STOPPED); any thread."""
        check(_lib.vmm_sandbox_stop(self.handle))

    def read(self, gva: int, n: int) -> bytes:
        """n bytes of the program's memory (for policies)."""
        return _read(_lib.vmm_sandbox_read, self.handle, gva, n)

    def write(self, gva: int, data: _Buffer) -> None:
        """Write into the program's memory (for policies)."""
        _write(_lib.vmm_sandbox_write, self.handle, gva, data)


@dataclasses.dataclass
class FuzzResult:
    """How one fuzz run ended."""
    outcome: FuzzOutcome
    status: int
    vector: int
    error_code: int
    address: int
    rip: int
    exit: Exit
    reset_ns: int
    run_ns: int


class Fuzz(_Owned):
    """A fuzz harness over a VM that is ready to run its target (memory mapped,
    image loaded, vCPU set up): Fuzz(vm, input_addr, input_size,
    coverage_addr=0, coverage_size=0, time_limit=1.0, vcpu=0,
    keep_page_tables=False). run(data) resets the VM, writes the input, runs
    and classifies. ``coverage`` is a memoryview of the counters of the last
    run (no copy)."""

    def __init__(self, vm: Vm, input_addr: int, input_size: int, coverage_addr: int = 0,
                 coverage_size: int = 0, time_limit: Optional[float] = 1.0, vcpu: int = 0,
                 keep_page_tables: bool = False) -> None:
        o = N.FuzzOptions()
        check(_lib.vmm_fuzz_options_init(byref(o), 1))
        o.vcpu, o.input_addr, o.input_size = vcpu, input_addr, input_size
        o.coverage_addr, o.coverage_size = coverage_addr, coverage_size
        o.time_budget_ns = int((time_limit or 0) * 1e9)
        o.flags = 1 if keep_page_tables else 0
        h = c_void_p()
        check(_lib.vmm_fuzz_create(byref(h), vm.handle, byref(o)))
        self.vm = vm
        self._own(h.value, _lib.vmm_fuzz_destroy)

    _what = "harness"

    def run(self, data: _Buffer) -> FuzzResult:
        """Run one input; returns a FuzzResult."""
        data = bytes(data)
        r = N.FuzzResult()
        rc = _lib.vmm_fuzz_run(self.handle, data, len(data), byref(r))
        self.vm._pending.raise_if_any()
        check(rc)
        return FuzzResult(FuzzOutcome(r.outcome), r.status, r.vector, r.error_code, r.address,
                          r.rip, Exit(r.exit, live=False), r.reset_ns, r.run_ns)

    @property
    def coverage(self) -> memoryview:
        """The coverage counters of the last run, as a read-only memoryview."""
        n = c_size_t()
        p = _lib.vmm_fuzz_coverage(self.handle, byref(n))
        if not p:
            return memoryview(b"")
        return memoryview((ctypes.c_uint8 * n.value).from_address(
            ctypes.addressof(p.contents))).cast("B").toreadonly()

    def reset(self) -> None:
        """Reset the VM to the harness's snapshot now."""
        check(_lib.vmm_fuzz_reset(self.handle))

    @property
    def stats(self) -> Dict[str, int]:
        """Totals since creation: runs, crashes, timeouts, reset_ns, run_ns."""
        s = N.FuzzStats()
        check(_lib.vmm_fuzz_get_stats(self.handle, byref(s)))
        return {f[0]: getattr(s, f[0]) for f in s._fields_}

    @property
    def snapshot(self) -> Snapshot:
        """The harness's snapshot (owned by the harness)."""
        return Snapshot(_lib.vmm_fuzz_snapshot(self.handle), owned=False, owner=self)
