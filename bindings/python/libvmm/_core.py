# SPDX-License-Identifier: MIT
"""VMs, vCPUs, exits, devices, snapshots, host facts and logging."""
from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import mmap
import os
import threading
import weakref
from ctypes import byref, c_size_t, c_uint64, c_void_p
from typing import (Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, TypeVar,
                    Union)

from . import _native as N
from .enums import (DebugFlags, ExitReason, LinuxCpuid, LinuxFlags, LogLevel, MemFlags, Paging,
                    Space, VmFlags, VmState, X86Exceptions, X86Mode)
from .errors import VmmError, check, error_for

_lib = N.lib
_log = logging.getLogger("libvmm")

#: For annotations: a file name, bytes (any buffer) and an owned object's own type.
_Path = Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]
_Buffer = Union[bytes, bytearray, memoryview]
_OwnedT = TypeVar("_OwnedT", bound="_Owned")


def _b(s: Optional[_Path]) -> Optional[bytes]:
    """str or path -> bytes for C (None stays None)."""
    if s is None:
        return None
    return os.fsencode(s) if not isinstance(s, bytes) else s


def _read(fn: Callable[..., int], handle: int, addr: int, n: int) -> bytes:
    """bytes from a C reader of the shape fn(handle, addr, buf, len)."""
    buf = ctypes.create_string_buffer(n)
    check(fn(handle, addr, buf, n))
    return buf.raw


def _write(fn: Callable[..., int], handle: int, addr: int, data: _Buffer) -> None:
    """Hand bytes to a C writer of the shape fn(handle, addr, buf, len)."""
    data = bytes(data)
    check(fn(handle, addr, data, len(data)))


class _Owned:
    """An object that owns a C handle: freed by close(), by the end of a with
    block, or by the garbage collector (a finalizer), whichever comes first."""

    _what = "object"

    def _own(self, handle: int, destroy: Optional[Callable[[Any], Any]]) -> None:
        self._h = handle
        self._fin = weakref.finalize(self, destroy, handle) if destroy else None

    @property
    def handle(self) -> int:
        """The C pointer (an int), for code that calls the C API directly."""
        if self._fin is not None and not self._fin.alive:
            raise error_for(-1003, "the %s is closed" % self._what)
        return self._h

    def close(self) -> None:
        """Free the C object. Idempotent."""
        if self._fin is not None:
            self._fin()

    def __enter__(self: _OwnedT) -> _OwnedT:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ---- callbacks: exceptions raised in Python code that C called ---------------

class _Pending:
    """Exceptions raised by callbacks while C code ran, per owner (a VM, a
    sandbox): the call that ran the guest re-raises the first one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._exc: Optional[BaseException] = None

    def put(self, exc: BaseException) -> None:
        with self._lock:
            if self._exc is None:
                self._exc = exc

    def raise_if_any(self) -> None:
        with self._lock:
            exc, self._exc = self._exc, None
        if exc is not None:
            raise exc


# ---- version and host ---------------------------------------------------------

def version() -> str:
    """The linked C library's version string, e.g. "0.1.0" (vmm_version())."""
    return _lib.vmm_version(None, None, None).decode()


def version_info() -> Tuple[int, int, int]:
    """The linked C library's version as (major, minor, patch)."""
    a, b, c = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    _lib.vmm_version(byref(a), byref(b), byref(c))
    return (a.value, b.value, c.value)


@dataclasses.dataclass(frozen=True)
class HostInfo:
    """What the host's KVM offers (vmm_host_info)."""
    api_version: int
    caps: int
    max_vcpus: int
    recommended_vcpus: int
    max_memslots: int
    paging: Paging
    pvm: bool
    backend: str


def host_info() -> HostInfo:
    """Query the host's KVM; raises NoDevice/PermissionDenied without a usable /dev/kvm."""
    h = N.HostInfo()
    check(_lib.vmm_host_info_get(byref(h)))
    return HostInfo(h.api_version, h.caps, h.max_vcpus, h.recommended_vcpus, h.max_memslots,
                    Paging(h.paging), bool(h.pvm), h.backend.decode())


# ---- logging --------------------------------------------------------------------

_PY_LEVEL = {LogLevel.DEBUG: logging.DEBUG, LogLevel.INFO: logging.INFO,
             LogLevel.WARN: logging.WARNING, LogLevel.ERROR: logging.ERROR}


@N.LOG_FN
def _log_cb(_opaque: Optional[int], level: int, component: bytes, message: bytes) -> None:
    try:
        _log.log(_PY_LEVEL.get(level, logging.ERROR), "%s: %s",
                 component.decode("utf-8", "replace"), message.decode("utf-8", "replace"))
    except Exception:  # a log call never raises into C
        pass


def set_log_level(level: Union[LogLevel, int]) -> None:
    """Deliver the C library's messages at or above ``level`` (a LogLevel, or a
    ``logging`` level) to the "libvmm" logger. The default is WARN."""
    if level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
        level = {logging.DEBUG: LogLevel.DEBUG, logging.INFO: LogLevel.INFO,
                 logging.WARNING: LogLevel.WARN, logging.ERROR: LogLevel.ERROR}[level]
    _lib.vmm_log_set(_log_cb, None, int(LogLevel(level)))


def _log_off() -> None:
    _lib.vmm_log_set(N.LOG_FN(), None, int(LogLevel.ERROR))


# ---- registers ------------------------------------------------------------------

@dataclasses.dataclass
class Regs:
    """General registers, RIP and RFLAGS (vmm_regs)."""
    rax: int = 0
    rbx: int = 0
    rcx: int = 0
    rdx: int = 0
    rsi: int = 0
    rdi: int = 0
    rsp: int = 0
    rbp: int = 0
    r8: int = 0
    r9: int = 0
    r10: int = 0
    r11: int = 0
    r12: int = 0
    r13: int = 0
    r14: int = 0
    r15: int = 0
    rip: int = 0
    rflags: int = 0x2

    @classmethod
    def _from_c(cls, r: N.Regs) -> Regs:
        return cls(*(getattr(r, n) for n in N.REG_NAMES))

    def _to_c(self) -> N.Regs:
        return N.Regs(*(getattr(self, n) for n in N.REG_NAMES))


Sregs = N.Sregs  #: special registers (vmm_sregs), a ctypes struct with named fields
Fpu = N.Fpu  #: x87/SSE state (vmm_fpu), a ctypes struct
CpuidEntry = N.CpuidEntry  #: one CPUID leaf (vmm_cpuid_entry), a ctypes struct


# ---- exits ----------------------------------------------------------------------

class Exit:
    """Why vCPU.run() returned: ``reason`` (ExitReason) and the fields of that
    reason, read from the C vmm_exit:

    - IO: ``port``, ``size``, ``is_write``, ``count``, ``data``;
    - MMIO: ``addr``, ``size``, ``is_write``, ``data``;
    - STATUS: ``status``; DEBUG: ``exception``, ``pc``, ``dr6``, ``dr7``;
    - FAULT: ``vector``, ``error_code``, ``address``, ``rip``;
    - INTERNAL_ERROR / FAIL_ENTRY: ``suberror``, ``rip``, ``insn``, ``hw_reason``;
    - SYSTEM_EVENT: ``event_type``.

    For an IO or MMIO read (``is_write`` false) assign the answer to ``data``
    (bytes of count*size, or size, bytes) before the vCPU's next run(). ``data``
    stays valid until that run; ``raw`` is the C struct."""

    def __init__(self, raw: N.Exit, live: bool = True) -> None:
        self.raw = raw
        self._live = live
        self.reason = ExitReason(raw.reason)

    def _span(self) -> Tuple[Optional[int], int]:
        if self.reason == ExitReason.IO:
            return self.raw.io.data, self.raw.io.size * self.raw.io.count
        if self.reason == ExitReason.MMIO:
            return self.raw.mmio.data, self.raw.mmio.size
        raise AttributeError("data: only IO and MMIO exits carry data")

    @property
    def data(self) -> bytes:
        ptr, n = self._span()
        if not self._live or not ptr:
            raise error_for(-1003, "data: this exit's data is no longer valid")
        return ctypes.string_at(ptr, n)

    @data.setter
    def data(self, value: _Buffer) -> None:
        ptr, n = self._span()
        if not self._live or not ptr:
            raise error_for(-1003, "data: this exit's data is no longer valid")
        value = bytes(value)
        if len(value) != n:
            raise ValueError("data: the access takes %d bytes, got %d" % (n, len(value)))
        ctypes.memmove(ptr, value, n)

    def __getattr__(self, name: str) -> Any:
        r = self.raw
        if self.reason == ExitReason.IO and name in ("port", "size", "is_write", "count"):
            v = getattr(r.io, name)
            return bool(v) if name == "is_write" else v
        if self.reason == ExitReason.MMIO and name in ("addr", "size", "is_write"):
            v = getattr(r.mmio, name)
            return bool(v) if name == "is_write" else v
        if name == "status":
            return r.status.code
        if name in ("exception", "pc", "dr6", "dr7"):
            return getattr(r.debug, name)
        if name in ("vector", "error_code", "address") or (
                name == "rip" and self.reason == ExitReason.FAULT):
            return getattr(r.fault, name)
        if name in ("suberror", "rip", "hw_reason"):
            return getattr(r.internal, name)
        if name == "insn":
            return bytes(r.internal.insn[:r.internal.insn_len])
        if name == "event_type":
            return r.system_event.type
        raise AttributeError(name)

    def __repr__(self) -> str:
        extra = ""
        if self.reason == ExitReason.IO:
            extra = " port=%#x size=%d %s" % (self.port, self.size,
                                             "write" if self.is_write else "read")
        elif self.reason == ExitReason.MMIO:
            extra = " addr=%#x size=%d %s" % (self.addr, self.size,
                                             "write" if self.is_write else "read")
        elif self.reason == ExitReason.STATUS:
            extra = " status=%d" % self.status
        elif self.reason == ExitReason.FAULT:
            extra = " vector=%d error_code=%#x address=%#x" % (self.vector, self.error_code,
                                                              self.address)
        return "<Exit %s%s>" % (self.reason.name, extra)


@dataclasses.dataclass
class RunResult:
    """The outcome of Vm.run(): reason, status (for STATUS), the vCPU index and its exit."""
    reason: ExitReason
    status: int
    vcpu: int
    exit: Exit


# ---- devices --------------------------------------------------------------------

class Device:
    """A device attached to a VM (owned by it). Built-in types add their calls:
    serial set_output/input/stats, virtio-console set_output/input, virtio-net
    set_tx/receive/stats."""

    def __init__(self, vm: Vm, handle: int) -> None:
        self._vm = vm
        self._h = handle
        self._cbs: List[Any] = []  # C callbacks kept alive while the device lives

    @property
    def id(self) -> str:
        return _lib.vmm_device_id(self._h).decode()

    @property
    def type(self) -> str:
        ops = _lib.vmm_device_type(self._h)
        return ctypes.cast(ops, ctypes.POINTER(N.DeviceOps)).contents.name.decode()

    def reset(self) -> None:
        """Return the device to its power-on state."""
        check(_lib.vmm_device_reset(self._h))

    def save(self) -> bytes:
        """The device's state as bytes (NotImplemented_ if the type cannot save)."""
        n = c_size_t()
        check(_lib.vmm_device_save(self._h, None, 0, byref(n)))
        buf = ctypes.create_string_buffer(max(n.value, 1))
        check(_lib.vmm_device_save(self._h, buf, n.value, byref(n)))
        return buf.raw[:n.value]

    def load(self, state: _Buffer) -> None:
        """Load state that save() returned."""
        state = bytes(state)
        check(_lib.vmm_device_load(self._h, state, len(state)))

    # serial
    def set_output(self, fn: Optional[Callable[[bytes], Any]]) -> None:
        """serial or virtio-console: call ``fn(data: bytes)`` with what the guest
        sends (on the vCPU thread); None removes it."""
        kind = self.type
        if kind == "serial":
            cb = N.SERIAL_OUT_FN(self._out_thunk(fn)) if fn else N.SERIAL_OUT_FN()
            check(_lib.vmm_serial_set_output(self._h, cb, None))
        elif kind == "virtio-console":
            cb = N.CONSOLE_OUT_FN(self._out_thunk(fn)) if fn else N.CONSOLE_OUT_FN()
            check(_lib.vmm_virtio_console_set_output(self._h, cb, None))
        else:
            raise error_for(-22, "set_output: %s devices have no output callback" % kind)
        self._cbs.append(cb)

    def _out_thunk(self, fn: Callable[[bytes], Any]) -> Callable[[Any, Any, int], None]:
        vm = self._vm

        def thunk(_opaque, data, n):
            try:
                fn(ctypes.string_at(data, n))
            except BaseException as e:
                vm._pending.put(e)
                vm._stop_soon()
        return thunk

    def input(self, data: _Buffer) -> int:
        """serial: queue bytes for the guest, returning how many the FIFO took;
        virtio-console: put them in the driver's receive buffers, likewise."""
        data = bytes(data)
        if self.type == "virtio-console":
            n = c_size_t()
            check(_lib.vmm_virtio_console_input(self._h, data, len(data), byref(n)))
            return n.value
        return check(_lib.vmm_serial_input(self._h, data, len(data)))

    def stats(self) -> Dict[str, int]:
        """serial or virtio-net counters, as a dict."""
        if self.type == "virtio-net":
            s = N.NetStats()
            check(_lib.vmm_virtio_net_get_stats(self._h, byref(s)))
        else:
            s = N.SerialStats()
            check(_lib.vmm_serial_get_stats(self._h, byref(s)))
        return {f[0]: getattr(s, f[0]) for f in s._fields_}

    # virtio-net
    def set_tx(self, fn: Optional[Callable[[bytes], Any]]) -> None:
        """virtio-net (callback backend): call ``fn(frame: bytes)`` for each frame
        the guest transmits; None removes it."""
        cb = N.NET_TX_FN(self._out_thunk(fn)) if fn else N.NET_TX_FN()
        check(_lib.vmm_virtio_net_set_tx(self._h, cb, None))
        self._cbs.append(cb)

    def receive(self, frame: _Buffer) -> None:
        """virtio-net (callback backend): deliver one Ethernet frame to the guest
        (TryAgain when the driver has no buffer posted)."""
        frame = bytes(frame)
        check(_lib.vmm_virtio_net_receive(self._h, frame, len(frame)))

    def __repr__(self) -> str:
        return "<Device %s %s>" % (self.type, self.id)


# ---- vCPUs ----------------------------------------------------------------------

class Vcpu:
    """A vCPU of a Vm (owned by it; Vm.vcpu() creates one). Run it on one thread
    at a time; kick() may be called from any thread."""

    def __init__(self, vm: Vm, handle: int, index: int) -> None:
        self._vm = vm
        self._h = handle
        self.index = index
        self._last: Optional[Exit] = None

    @property
    def regs(self) -> Regs:
        """The general registers as a Regs dataclass; assign a Regs to set them."""
        r = N.Regs()
        check(_lib.vmm_vcpu_get_regs(self._h, byref(r)))
        return Regs._from_c(r)

    @regs.setter
    def regs(self, regs: Regs) -> None:
        check(_lib.vmm_vcpu_set_regs(self._h, byref(regs._to_c())))

    @property
    def sregs(self) -> Sregs:
        """Segments, descriptor tables and control registers (a Sregs struct)."""
        s = N.Sregs()
        check(_lib.vmm_vcpu_get_sregs(self._h, byref(s)))
        return s

    @sregs.setter
    def sregs(self, s: Sregs) -> None:
        check(_lib.vmm_vcpu_set_sregs(self._h, byref(s)))

    @property
    def fpu(self) -> Fpu:
        """The x87/SSE state (an Fpu struct)."""
        f = N.Fpu()
        check(_lib.vmm_vcpu_get_fpu(self._h, byref(f)))
        return f

    @fpu.setter
    def fpu(self, f: Fpu) -> None:
        check(_lib.vmm_vcpu_set_fpu(self._h, byref(f)))

    def get_msrs(self, indices: Iterable[int]) -> Dict[int, int]:
        """Read MSRs: {index: value}."""
        indices = list(indices)
        arr = (N.Msr * len(indices))(*[N.Msr(i, 0) for i in indices])
        check(_lib.vmm_vcpu_get_msrs(self._h, arr, len(indices)))
        return {m.index: m.value for m in arr}

    def set_msrs(self, values: Mapping[int, int]) -> None:
        """Write MSRs from {index: value}."""
        items = list(values.items())
        arr = (N.Msr * len(items))(*[N.Msr(i, v) for i, v in items])
        check(_lib.vmm_vcpu_set_msrs(self._h, arr, len(items)))

    def setup(self, mode: X86Mode = X86Mode.LONG, entry: int = 0, stack: int = 0,
              cpl: int = 0, tables: Optional[int] = None,
              identity_map_size: Optional[int] = None,
              exceptions: X86Exceptions = X86Exceptions.NONE) -> None:
        """Put the vCPU in real, protected or long mode at ``entry`` with
        library-built GDT, TSS and identity page tables (vmm_x86_setup())."""
        o = N.X86SetupOptions()
        check(_lib.vmm_x86_setup_options_init(byref(o), 2))
        o.mode, o.cpl, o.entry, o.stack = int(mode), cpl, entry, stack
        if tables is not None:
            o.tables = tables
        if identity_map_size is not None:
            o.identity_map_size = identity_map_size
        o.exceptions = int(exceptions)
        check(_lib.vmm_x86_setup(self._h, byref(o)))

    def set_cpuid(self, entries: Optional[Iterable[CpuidEntry]] = None) -> None:
        """Set the CPUID table from CpuidEntry structs; None: KVM's supported set."""
        if entries is None:
            check(_lib.vmm_x86_set_cpuid(self._h, None, 0))
            return
        entries = list(entries)
        arr = (N.CpuidEntry * len(entries))(*entries)
        check(_lib.vmm_x86_set_cpuid(self._h, arr, len(entries)))

    def run(self) -> Exit:
        """Run on the calling thread until an exit no device claims; returns an
        Exit. An exception a Python device or callback raised during the run is
        re-raised here. The GIL is released while the guest runs."""
        if self._last is not None:
            self._last._live = False
        x = N.Exit()
        rc = _lib.vmm_vcpu_run(self._h, byref(x))
        self._vm._pending.raise_if_any()
        check(rc)
        self._last = Exit(x)
        return self._last

    def kick(self) -> None:
        """Make run() return (ExitReason.KICKED) at once, or the next run() if
        none is in progress. Any thread."""
        check(_lib.vmm_vcpu_kick(self._h))

    def set_time_budget(self, seconds: Optional[float]) -> None:
        """Limit every later run() to ``seconds`` of wall-clock time
        (ExitReason.TIMEOUT); None or 0 removes the limit."""
        check(_lib.vmm_vcpu_set_time_budget(self._h, int((seconds or 0) * 1e9)))

    def set_debug(self, flags: Union[DebugFlags, int]) -> None:
        """Single-stepping and software breakpoints (DebugFlags); 0 turns them off."""
        check(_lib.vmm_vcpu_set_debug(self._h, int(flags)))

    def translate(self, gva: int, write: bool = False, user: bool = False) -> int:
        """Guest-virtual to guest-physical through the guest's page tables."""
        gpa = c_uint64()
        check(_lib.vmm_vcpu_translate(self._h, gva, int(write), int(user), byref(gpa)))
        return gpa.value

    def read_virt(self, gva: int, n: int) -> bytes:
        """n bytes at a guest-virtual address."""
        return _read(_lib.vmm_vcpu_read_virt, self._h, gva, n)

    def write_virt(self, gva: int, data: _Buffer) -> None:
        """Write bytes at a guest-virtual address."""
        _write(_lib.vmm_vcpu_write_virt, self._h, gva, data)

    def __repr__(self) -> str:
        return "<Vcpu %d>" % self.index


# ---- VMs ------------------------------------------------------------------------

_attaching = threading.local()


class Vm(_Owned):
    """A virtual machine. A context manager; close() (or the end of the with
    block, or the garbage collector) destroys it with its vCPUs and devices.

    Vm(irqchip=False, pit=False, memory_limit=0) creates an empty VM: map
    memory, load a guest, create vCPUs, attach devices, then run."""

    def __init__(self, irqchip: bool = False, pit: bool = False, memory_limit: int = 0, *,
                 _handle: Optional[int] = None) -> None:
        self._pending = _Pending()
        self._devices: List[Device] = []
        self._vcpus: Dict[int, Vcpu] = {}
        self._keep: List[Any] = []  # host memory and callbacks the C side uses
        self.spec_info: Optional[Dict[str, Any]] = None
        if _handle is None:
            o = N.VmOptions()
            check(_lib.vmm_vm_options_init(byref(o), 1))
            o.flags = (VmFlags.IRQCHIP if irqchip else 0) | (VmFlags.PIT if pit else 0)
            o.memory_limit = memory_limit
            h = c_void_p()
            check(_lib.vmm_vm_create(byref(h), byref(o)))
            _handle = h.value
        self._own(_handle, _lib.vmm_vm_destroy)

    @classmethod
    def from_spec(cls, spec: Union[_Path, Dict[str, Any]],
                  base_dir: Optional[_Path] = None) -> Vm:
        """A VM built from a JSON VM spec: a path to a spec file, a dict, or the
        JSON text (str or bytes). A bad spec raises ConfigError whose message
        starts with the JSON path. ``spec_info`` holds the spec's name, uuid,
        vCPU count, time budget, console device and entry."""
        info = N.SpecInfo()
        h = c_void_p()
        _attaching.pending = pending = _Pending()
        try:
            if isinstance(spec, dict):
                text = json.dumps(spec).encode()
                rc = _lib.vmm_vm_create_from_spec(byref(h), text, len(text), _b(base_dir),
                                                  byref(info))
            elif isinstance(spec, bytes) or (isinstance(spec, str) and
                                             spec.lstrip().startswith("{")):
                text = spec.encode() if isinstance(spec, str) else spec
                rc = _lib.vmm_vm_create_from_spec(byref(h), text, len(text), _b(base_dir),
                                                  byref(info))
            else:
                rc = _lib.vmm_vm_create_from_spec_file(byref(h), _b(spec), byref(info))
        finally:
            _attaching.pending = None
        pending.raise_if_any()
        check(rc)
        vm = cls(_handle=h.value)
        vm._pending = pending
        for i in range(_lib.vmm_vm_vcpu_count(vm._h)):
            vm._vcpus[i] = Vcpu(vm, _lib.vmm_vm_vcpu(vm._h, i), i)
        vm.spec_info = {
            "name": info.name.decode(), "uuid": info.uuid.decode(), "vcpus": info.vcpus,
            "time_budget_ns": info.time_budget_ns, "entry": info.entry,
            "console": Device(vm, info.console) if info.console else None}
        return vm

    _what = "VM"

    def close(self) -> None:
        """Destroy the VM (no vCPU may be running). Idempotent."""
        super().close()
        self._devices.clear()
        self._vcpus.clear()
        self._keep.clear()

    # memory
    def map(self, gpa: int, size: int, flags: MemFlags = MemFlags.NONE,
            host: Optional[Any] = None) -> None:
        """Map guest RAM at ``gpa``. host None: libvmm allocates zeroed memory.
        Otherwise a writable, page-aligned buffer of at least ``size`` bytes
        (e.g. an mmap.mmap), kept alive with the VM."""
        ptr = None
        if host is not None:
            view = memoryview(host)
            if view.readonly or view.nbytes < size:
                raise ValueError("map: host must be a writable buffer of at least size bytes")
            ptr = ctypes.addressof(ctypes.c_char.from_buffer(host))
            self._keep.append(host)
        check(_lib.vmm_mem_map(self.handle, gpa, size, ptr, int(flags)))

    def map_file(self, gpa: int, path: _Path) -> int:
        """Map a file's contents read-only at ``gpa``; returns the region size."""
        n = c_uint64()
        check(_lib.vmm_mem_map_file(self.handle, gpa, _b(path), byref(n)))
        return n.value

    def unmap(self, gpa: int) -> None:
        """Remove the region that starts at ``gpa``."""
        check(_lib.vmm_mem_unmap(self.handle, gpa))

    def read(self, gpa: int, n: int) -> bytes:
        """n bytes of guest-physical memory."""
        return _read(_lib.vmm_mem_read, self.handle, gpa, n)

    def read_into(self, gpa: int, buffer: Any) -> int:
        """Fill a writable buffer (bytearray, memoryview, ...) from guest memory
        with one copy; returns the number of bytes."""
        view = memoryview(buffer).cast("B")
        n = view.nbytes
        tmp = (ctypes.c_char * n).from_buffer(view)
        check(_lib.vmm_mem_read(self.handle, gpa, tmp, n))
        return n

    def write(self, gpa: int, data: _Buffer) -> None:
        """Copy bytes (or any buffer) into guest-physical memory."""
        _write(_lib.vmm_mem_write, self.handle, gpa, data)

    def memory(self, gpa: int, size: int) -> memoryview:
        """A writable memoryview of guest RAM itself, no copy. Valid while the
        region stays mapped and the VM open; for snapshots, the whole range
        counts as written by the host now."""
        p = c_void_p()
        check(_lib.vmm_mem_host_ptr(self.handle, gpa, size, byref(p)))
        return memoryview((ctypes.c_char * size).from_address(p.value)).cast("B")

    def dirty_pages(self, gpa: int, size: int) -> List[int]:
        """Fetch and clear KVM's dirty log of the region at ``gpa`` (``size``
        bytes, mapped with MemFlags.DIRTY_LOG): the indices of dirty pages."""
        pages = (size + 4095) // 4096
        words = (pages + 63) // 64
        bm = (c_uint64 * words)()
        check(_lib.vmm_mem_dirty_log(self.handle, gpa, bm, words))
        return [i for i in range(pages) if bm[i // 64] >> (i % 64) & 1]

    # loaders
    def load_flat(self, path: _Path, gpa: int) -> int:
        """Copy a flat binary into RAM at ``gpa``; returns its size."""
        n = c_uint64()
        check(_lib.vmm_boot_flat(self.handle, _b(path), gpa, byref(n)))
        return n.value

    def load_elf(self, path: _Path) -> int:
        """Load an ELF executable's PT_LOAD segments; returns its entry point."""
        e = c_uint64()
        check(_lib.vmm_boot_elf(self.handle, _b(path), byref(e)))
        return e.value

    def boot_linux(self, kernel: _Path, initrd: Optional[_Path] = None,
                   cmdline: Optional[Union[str, bytes]] = None,
                   flags: Union[LinuxFlags, int] = 0,
                   cpuid: LinuxCpuid = LinuxCpuid.AUTO) -> None:
        """Load a Linux kernel (bzImage or vmlinux) with the x86 boot protocol."""
        b = N.LinuxBoot()
        check(_lib.vmm_linux_boot_init(byref(b), 1))
        b.kernel, b.initrd, b.cmdline = _b(kernel), _b(initrd), _b(cmdline)
        b.flags, b.cpuid = int(flags), int(cpuid)
        check(_lib.vmm_boot_linux(self.handle, byref(b)))

    def supported_cpuid(self) -> List[CpuidEntry]:
        """KVM's supported CPUID set, as a list of CpuidEntry."""
        n = c_size_t()
        rc = _lib.vmm_x86_supported_cpuid(self.handle, None, 0, byref(n))
        if rc not in (0, -34):
            check(rc)
        arr = (N.CpuidEntry * n.value)()
        check(_lib.vmm_x86_supported_cpuid(self.handle, arr, n.value, byref(n)))
        return list(arr[:n.value])

    # vCPUs
    def vcpu(self, index: int = 0) -> Vcpu:
        """The vCPU with this index, created on first use."""
        if index not in self._vcpus:
            h = c_void_p()
            check(_lib.vmm_vcpu_create(byref(h), self.handle, index))
            self._vcpus[index] = Vcpu(self, h.value, index)
        return self._vcpus[index]

    @property
    def vcpus(self) -> List[Vcpu]:
        """The vCPUs created so far, by index."""
        return [self._vcpus[i] for i in sorted(self._vcpus)]

    # devices
    def attach(self, type: str,
               config: Optional[Union[Dict[str, Any], str, bytes]] = None) -> Device:
        """Create a device of a registered type (built-in, a plugin's or one
        registered with register_device()) from a config dict (or JSON text)."""
        if isinstance(config, dict):
            config = json.dumps(config)
        h = c_void_p()
        _attaching.pending = self._pending
        try:
            rc = _lib.vmm_device_attach(byref(h), self.handle, _b(type), _b(config))
        finally:
            _attaching.pending = None
        self._pending.raise_if_any()
        check(rc)
        dev = Device(self, h.value)
        self._devices.append(dev)
        return dev

    # running
    def run(self, on_exit: Optional[Callable[[int, Exit], Optional[int]]] = None,
            time_limit: Optional[float] = None) -> RunResult:
        """Run every vCPU, each on a thread of its own, until all halt, one ends
        the VM, the time limit (seconds) passes or stop() is called. ``on_exit(
        vcpu_index, exit)`` sees unclaimed I/O and MMIO: store a read's answer in
        exit.data and return None or 0 to go on, or a nonzero int to stop the
        VM with that status. Returns a RunResult. An exception raised in a
        callback or device stops the run and is re-raised here."""
        o = N.RunOptions()
        check(_lib.vmm_run_options_init(byref(o), 1))
        o.time_budget_ns = int((time_limit or 0) * 1e9)
        cb = None
        if on_exit is not None:
            pending = self._pending

            def thunk(_opaque, vcpu, x):
                try:
                    idx = _lib.vmm_vcpu_index(vcpu)
                    ret = on_exit(idx, Exit(x.contents))
                    return int(ret or 0)
                except BaseException as e:
                    pending.put(e)
                    return -1
            cb = N.EXIT_FN(thunk)
            o.on_exit = cb
        res = N.RunResult()
        rc = _lib.vmm_vm_run(self.handle, byref(o), byref(res))
        self._pending.raise_if_any()
        check(rc)
        return RunResult(ExitReason(res.reason), res.status, res.vcpu, Exit(res.exit, live=False))

    def stop(self) -> None:
        """Stop a run() in progress (reason KICKED), from any thread."""
        check(_lib.vmm_vm_stop(self.handle))

    def _stop_soon(self) -> None:
        if self._fin.alive:
            _lib.vmm_vm_stop(self._h)
            for v in self._vcpus.values():
                _lib.vmm_vcpu_kick(v._h)

    def pause(self) -> None:
        """Pause a run() in progress; returns when every vCPU has parked."""
        check(_lib.vmm_vm_pause(self.handle))

    def resume(self) -> None:
        """Let a paused run() continue."""
        check(_lib.vmm_vm_resume(self.handle))

    @property
    def state(self) -> VmState:
        """VmState: IDLE, RUNNING or PAUSED."""
        return VmState(_lib.vmm_vm_get_state(self.handle))

    def set_sched(self, weight: int = 256, cap: int = 0, affinity: int = 0) -> None:
        """CPU weight (1..65535), cap (0 or 1..100 % of a CPU) and affinity mask
        of the threads run() starts."""
        s = N.Sched(1, weight, cap, affinity)
        check(_lib.vmm_vm_set_sched(self.handle, byref(s)))

    # snapshots
    def snapshot(self) -> Snapshot:
        """Take a snapshot of the whole VM (Snapshot)."""
        h = c_void_p()
        check(_lib.vmm_snapshot_take(self.handle, byref(h)))
        return Snapshot(h.value)

    def restore(self, snap: Snapshot, keep_page_tables: bool = False) -> None:
        """Reset the VM to a snapshot, copying back only what changed since."""
        check(_lib.vmm_snapshot_restore_flags(self.handle, snap.handle,
                                              1 if keep_page_tables else 0))

    def last_restore(self) -> Dict[str, int]:
        """What the last restore did, as a dict (pages_dirty, pages_copied, ...)."""
        s = N.SnapshotStats()
        check(_lib.vmm_snapshot_last_restore(self.handle, byref(s)))
        return {f[0]: getattr(s, f[0]) for f in s._fields_}

    def __repr__(self) -> str:
        return "<Vm %s>" % ("closed" if not self._fin.alive else "%d vCPUs" % len(self._vcpus))


class Snapshot(_Owned):
    """A snapshot of a VM (Vm.snapshot(), Snapshot.load()). Freed by close(),
    the end of a with block, or the garbage collector."""

    _what = "snapshot"

    def __init__(self, handle: int, owned: bool = True, owner: Optional[Any] = None) -> None:
        self._owner = owner  # keeps a harness alive while its snapshot is used
        self._own(handle, _lib.vmm_snapshot_free if owned else None)

    @classmethod
    def load(cls, path: _Path) -> Snapshot:
        """Load a snapshot file that save() wrote."""
        h = c_void_p()
        check(_lib.vmm_snapshot_load(_b(path), byref(h)))
        return cls(h.value)

    @classmethod
    def from_bytes(cls, data: _Buffer) -> Snapshot:
        """Load a snapshot from the bytes of a snapshot file."""
        data = bytes(data)
        h = c_void_p()
        check(_lib.vmm_snapshot_load_buffer(data, len(data), byref(h)))
        return cls(h.value)

    def save(self, path: _Path) -> None:
        """Write the snapshot to a file, atomically."""
        check(_lib.vmm_snapshot_save(self.handle, _b(path)))

    @property
    def memory_size(self) -> int:
        """Host memory the snapshot occupies, in bytes."""
        return _lib.vmm_snapshot_memory_size(self.handle)


# ---- devices written in Python ----------------------------------------------

class DeviceContext:
    """What a Python device gets at creation: claim ranges, raise interrupt
    lines, read and write guest memory (checked), stop the run, log."""

    def __init__(self, handle: int) -> None:
        self._h = handle

    @property
    def id(self) -> str:
        return _lib.vmm_device_id(self._h).decode()

    @property
    def checking(self) -> bool:
        """True while the device is made only to check a configuration
        (spec checking): claim ranges as usual, but open no host resource."""
        return bool(_lib.vmm_device_checking(self._h))

    def claim(self, space: Space, base: int, length: int) -> None:
        """Claim a port (Space.PIO) or MMIO (Space.MMIO) range; accesses call
        read/write with the range's number (0, 1, ... in claim order)."""
        check(_lib.vmm_device_claim(self._h, int(Space(space)), base, length))

    def set_irq(self, line: int, level: Union[bool, int]) -> None:
        """Set an interrupt line's level (needs the VM's irqchip)."""
        check(_lib.vmm_device_set_irq(self._h, line, int(bool(level))))

    def mem_read(self, gpa: int, n: int) -> bytes:
        """n bytes of guest-physical memory (checked; never beyond RAM)."""
        return _read(_lib.vmm_device_mem_read, self._h, gpa, n)

    def mem_write(self, gpa: int, data: _Buffer) -> None:
        """Write guest-physical memory (checked; read-only regions refused)."""
        _write(_lib.vmm_device_mem_write, self._h, gpa, data)

    def stop(self, status: int) -> None:
        """End the current run with ExitReason.STATUS and this status."""
        _lib.vmm_device_stop(self._h, status)

    def log(self, level: Union[LogLevel, int], message: Any) -> None:
        _lib.vmm_device_log(self._h, int(level), b"%s", str(message).encode())


_py_types: Dict[str, Tuple[Any, ...]] = {}  # name -> (cls, ops, callbacks): alive while registered
# state id -> (instance, context, pending)
_py_devs: Dict[int, Tuple[Any, DeviceContext, _Pending]] = {}
_py_ids = iter(range(1, 1 << 62))
_py_lock = threading.Lock()


def register_device(type_name: str,
                    cls: Callable[[DeviceContext, Dict[str, Any]], Any]) -> None:
    """Register a device type written in Python, attachable by name like a
    built-in. ``cls(ctx, config)`` gets a DeviceContext and the config dict;
    it claims its ranges with ctx.claim(). Its ``read(range, offset, size)``
    returns an int (or ``size`` bytes), ``write(range, offset, data)`` gets
    bytes; ``reset()``, ``save() -> bytes`` and ``load(bytes)`` are optional
    (without save/load a VM with the device cannot be snapshotted). An
    exception raised in any of them stops the run and is re-raised from the
    call that ran the guest."""

    def create(dev, config, state):
        pending = getattr(_attaching, "pending", None) or _Pending()
        ctx = DeviceContext(dev)
        try:
            cfg = json.loads(config.decode()) if config else {}
            inst = cls(ctx, cfg)
        except VmmError as e:
            _lib.vmm_device_error(dev, b"%s", str(e).encode())
            return e.code
        except BaseException as e:
            pending.put(e)
            _lib.vmm_device_error(dev, b"%s", ("%s: %s" % (type(e).__name__, e)).encode())
            return -22
        with _py_lock:
            sid = next(_py_ids)
            _py_devs[sid] = (inst, ctx, pending)
        state[0] = sid
        return 0

    def fail(sid, e):
        inst, ctx, pending = _py_devs[sid]
        pending.put(e)
        _lib.vmm_device_stop(ctx._h, -1)

    def read(sid, rng, off, data, size):
        try:
            v = _py_devs[sid][0].read(rng, off, size)
            b = v if isinstance(v, (bytes, bytearray)) else int(v).to_bytes(
                size, "little", signed=int(v) < 0)
            if len(b) != size:
                raise ValueError("read returned %d bytes for a %d-byte access" % (len(b), size))
            ctypes.memmove(data, bytes(b), size)
            return 0
        except BaseException as e:
            fail(sid, e)
            return -5

    def write(sid, rng, off, data, size):
        try:
            _py_devs[sid][0].write(rng, off, ctypes.string_at(data, size))
            return 0
        except BaseException as e:
            fail(sid, e)
            return -5

    def reset(sid):
        inst = _py_devs[sid][0]
        if hasattr(inst, "reset"):
            try:
                inst.reset()
            except BaseException as e:
                fail(sid, e)

    def save(sid, buf, cap, length):
        try:
            blob = bytes(_py_devs[sid][0].save())
            length[0] = len(blob)
            if buf:
                if cap < len(blob):
                    return -34
                ctypes.memmove(buf, blob, len(blob))
            return 0
        except BaseException as e:
            _py_devs[sid][2].put(e)
            return -5

    def load(sid, buf, n):
        try:
            _py_devs[sid][0].load(ctypes.string_at(buf, n))
            return 0
        except BaseException as e:
            _py_devs[sid][2].put(e)
            return -22

    def destroy(sid):
        with _py_lock:
            _py_devs.pop(sid, None)

    name = _b(type_name)
    has = lambda m: callable(getattr(cls, m, None))  # noqa: E731
    cbs = [N.DEV_CREATE(create), N.DEV_READ(read), N.DEV_WRITE(write), N.DEV_RESET(reset),
           N.DEV_SAVE(save) if has("save") else N.DEV_SAVE(),
           N.DEV_LOAD(load) if has("load") else N.DEV_LOAD(), N.DEV_DESTROY(destroy)]
    ops = N.DeviceOps(1, name, *cbs)
    with _py_lock:
        if type_name in _py_types:
            raise error_for(-17, "register_device: %s is already registered" % type_name)
        check(_lib.vmm_device_register(byref(ops)))
        _py_types[type_name] = (cls, ops, cbs, name)


def unregister_device(type_name: str) -> None:
    """Remove a type registered with register_device(); devices already created
    keep working."""
    with _py_lock:
        check(_lib.vmm_device_unregister(_b(type_name)))
        # The C side may still call the type's ops for devices that exist: keep them.
        _retired.append(_py_types.pop(type_name, None))


_retired: List[Any] = []


def load_plugin(path: _Path) -> None:
    """Load a device plugin (a shared object with vmm_plugin_init)."""
    check(_lib.vmm_plugin_load(_b(path)))


def spec_check(spec: Union[Dict[str, Any], str, bytes],
               base_dir: Optional[_Path] = None) -> None:
    """Check a spec (dict or JSON text) without KVM; raises ConfigError."""
    text = json.dumps(spec).encode() if isinstance(spec, dict) else _b(spec)
    check(_lib.vmm_spec_check(text, len(text), _b(base_dir)))


def _mmap_ram(size: int) -> mmap.mmap:
    """Page-aligned anonymous memory for Vm.map(host=...)."""
    return mmap.mmap(-1, size)
