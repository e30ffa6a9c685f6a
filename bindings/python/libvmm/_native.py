# SPDX-License-Identifier: MIT
"""The C library through ctypes: finding and loading it, the C structs, and the
prototypes of every public function. Nothing here is public API."""
import ctypes
import ctypes.util
import os
import subprocess
from ctypes import (CFUNCTYPE, POINTER, c_char, c_char_p, c_int, c_int32, c_int64, c_size_t,
                    c_uint, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)

#: The library version these bindings were written for (major, minor).
BINDINGS_FOR = (0, 1)

_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    """Where the shared library may be, in the documented order."""
    env = os.environ.get("LIBVMM_LIBRARY")
    if env:
        yield env, "LIBVMM_LIBRARY"
        return
    # Run from the repository: bindings/python/libvmm -> <top>/build*/libvmm.so.0
    top = os.path.normpath(os.path.join(_HERE, "..", "..", ".."))
    if os.path.isfile(os.path.join(top, "include", "libvmm", "vmm.h")):
        for build in ("build", "build-asan"):
            p = os.path.join(top, build, "libvmm.so.0")
            if os.path.exists(p):
                yield p, "the build tree"
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "libvmm"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        if libdir:
            yield os.path.join(libdir, "libvmm.so.0"), "pkg-config"
    except (OSError, subprocess.SubprocessError):
        pass
    found = ctypes.util.find_library("vmm")
    if found:
        yield found, "the system's loader"


def _load():
    tried = []
    for path, how in _candidates():
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s): %s" % (path, how, e))
    raise ImportError("libvmm: cannot load the libvmm shared library; tried: "
                      + ("; ".join(tried) or "nothing found (set LIBVMM_LIBRARY, or install "
                                             "libvmm where pkg-config or the loader finds it)"))


lib, path = _load()


# ---- structs (mirroring include/libvmm/*.h; checked by tests/test_abi.py) ----

class Struct(ctypes.Structure):
    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join(
            "%s=%r" % (f[0], getattr(self, f[0])) for f in self._fields_))


class Error(Struct):
    _fields_ = [("code", c_int), ("message", c_char_p)]


class HostInfo(Struct):
    _fields_ = [("api_version", c_int), ("caps", c_uint), ("max_vcpus", c_uint),
                ("recommended_vcpus", c_uint), ("max_memslots", c_uint), ("paging", c_int),
                ("pvm", c_int), ("backend", c_char * 32)]


class VmOptions(Struct):
    _fields_ = [("version", c_uint), ("flags", c_uint), ("memory_limit", c_uint64)]


REG_NAMES = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9", "r10", "r11",
             "r12", "r13", "r14", "r15", "rip", "rflags")


class Regs(Struct):
    _fields_ = [(n, c_uint64) for n in REG_NAMES]


class Segment(Struct):
    _fields_ = [("base", c_uint64), ("limit", c_uint32), ("selector", c_uint16), ("type", c_uint8),
                ("present", c_uint8), ("dpl", c_uint8), ("db", c_uint8), ("s", c_uint8),
                ("l", c_uint8), ("g", c_uint8), ("avl", c_uint8), ("unusable", c_uint8)]


class DTable(Struct):
    _fields_ = [("base", c_uint64), ("limit", c_uint16)]


SEGMENT_NAMES = ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt")
SREG_CONTROL = ("cr0", "cr2", "cr3", "cr4", "cr8", "efer", "apic_base")


class Sregs(Struct):
    _fields_ = ([(n, Segment) for n in SEGMENT_NAMES] + [("gdt", DTable), ("idt", DTable)]
                + [(n, c_uint64) for n in SREG_CONTROL])


class Fpu(Struct):
    _fields_ = [("fpr", (c_uint8 * 16) * 8), ("fcw", c_uint16), ("fsw", c_uint16),
                ("ftwx", c_uint8), ("last_opcode", c_uint16), ("last_ip", c_uint64),
                ("last_dp", c_uint64), ("xmm", (c_uint8 * 16) * 16), ("mxcsr", c_uint32)]


class Msr(Struct):
    _fields_ = [("index", c_uint32), ("value", c_uint64)]


class _Io(Struct):
    _fields_ = [("port", c_uint16), ("size", c_uint8), ("is_write", c_uint8), ("count", c_uint32),
                ("data", POINTER(c_uint8))]


class _Mmio(Struct):
    _fields_ = [("addr", c_uint64), ("size", c_uint8), ("is_write", c_uint8),
                ("data", POINTER(c_uint8))]


class _Status(Struct):
    _fields_ = [("code", c_int32)]


class _Debug(Struct):
    _fields_ = [("exception", c_uint32), ("pc", c_uint64), ("dr6", c_uint64), ("dr7", c_uint64)]


class _Fault(Struct):
    _fields_ = [("vector", c_uint32), ("error_code", c_uint32), ("address", c_uint64),
                ("rip", c_uint64)]


class _Internal(Struct):
    _fields_ = [("suberror", c_uint32), ("rip", c_uint64), ("insn_len", c_uint8),
                ("insn", c_uint8 * 16), ("hw_reason", c_uint64)]


class _SystemEvent(Struct):
    _fields_ = [("type", c_uint32)]


class Exit(Struct):
    _fields_ = [("reason", c_int), ("io", _Io), ("mmio", _Mmio), ("status", _Status),
                ("debug", _Debug), ("fault", _Fault), ("internal", _Internal),
                ("system_event", _SystemEvent)]


class Vcpu_(ctypes.Structure):
    """Opaque."""


EXIT_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, POINTER(Exit))


class RunOptions(Struct):
    _fields_ = [("version", c_uint), ("on_exit", EXIT_FN), ("opaque", c_void_p),
                ("time_budget_ns", c_uint64)]


class RunResult(Struct):
    _fields_ = [("reason", c_int), ("status", c_int), ("vcpu", c_uint), ("exit", Exit)]


class Sched(Struct):
    _fields_ = [("version", c_uint), ("weight", c_uint), ("cap", c_uint), ("affinity", c_uint64)]


class X86SetupOptions(Struct):
    _fields_ = [("version", c_uint), ("mode", c_int), ("cpl", c_uint), ("entry", c_uint64),
                ("stack", c_uint64), ("tables", c_uint64), ("identity_map_size", c_uint64),
                ("exceptions", c_int)]


class CpuidEntry(Struct):
    _fields_ = [("function", c_uint32), ("index", c_uint32), ("flags", c_uint32),
                ("eax", c_uint32), ("ebx", c_uint32), ("ecx", c_uint32), ("edx", c_uint32)]


class LinuxBoot(Struct):
    _fields_ = [("version", c_uint), ("kernel", c_char_p), ("initrd", c_char_p),
                ("cmdline", c_char_p), ("flags", c_uint), ("cpuid", c_int)]


DEV_CREATE = CFUNCTYPE(c_int, c_void_p, c_char_p, POINTER(c_void_p))
DEV_READ = CFUNCTYPE(c_int, c_void_p, c_uint, c_uint64, c_void_p, c_uint)
DEV_WRITE = CFUNCTYPE(c_int, c_void_p, c_uint, c_uint64, c_void_p, c_uint)
DEV_RESET = CFUNCTYPE(None, c_void_p)
DEV_SAVE = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t, POINTER(c_size_t))
DEV_LOAD = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
DEV_DESTROY = CFUNCTYPE(None, c_void_p)


class DeviceOps(Struct):
    _fields_ = [("version", c_uint), ("name", c_char_p), ("create", DEV_CREATE),
                ("read", DEV_READ), ("write", DEV_WRITE), ("reset", DEV_RESET),
                ("save", DEV_SAVE), ("load", DEV_LOAD), ("destroy", DEV_DESTROY)]


class SnapshotStats(Struct):
    _fields_ = [("pages_dirty", c_uint64), ("pages_copied", c_uint64), ("pages_total", c_uint64),
                ("full", c_int), ("shadow_flushed", c_int), ("duration_ns", c_uint64)]


class SandboxSyscall(Struct):
    _fields_ = [("nr", c_uint64), ("args", c_uint64 * 6), ("ret", c_int64)]


SANDBOX_SYSCALL_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, POINTER(SandboxSyscall))
SANDBOX_FN = CFUNCTYPE(c_int64, c_void_p, c_void_p, c_size_t, c_void_p, c_size_t)


class SandboxOptions(Struct):
    _fields_ = [("version", c_uint), ("flags", c_uint), ("memory_size", c_uint64),
                ("stack_size", c_uint64), ("time_budget_ns", c_uint64), ("max_output", c_uint64),
                ("stdout_fd", c_int), ("stderr_fd", c_int), ("max_call_bytes", c_uint64),
                ("syscall", SANDBOX_SYSCALL_FN), ("syscall_opaque", c_void_p)]


class _SandboxFault(Struct):
    _fields_ = [("vector", c_uint32), ("error_code", c_uint32), ("address", c_uint64),
                ("rip", c_uint64)]


class SandboxResult(Struct):
    _fields_ = [("outcome", c_int), ("status", c_int), ("fault", _SandboxFault), ("exit", Exit),
                ("syscalls", c_uint64), ("denied", c_uint64)]


class FuzzOptions(Struct):
    _fields_ = [("version", c_uint), ("vcpu", c_uint), ("input_addr", c_uint64),
                ("input_size", c_uint64), ("coverage_addr", c_uint64),
                ("coverage_size", c_uint64), ("time_budget_ns", c_uint64), ("flags", c_uint)]


class FuzzResult(Struct):
    _fields_ = [("outcome", c_int), ("status", c_int32), ("vector", c_uint32),
                ("error_code", c_uint32), ("address", c_uint64), ("rip", c_uint64),
                ("exit", Exit), ("reset_ns", c_uint64), ("run_ns", c_uint64)]


class FuzzStats(Struct):
    _fields_ = [("runs", c_uint64), ("crashes", c_uint64), ("timeouts", c_uint64),
                ("reset_ns", c_uint64), ("run_ns", c_uint64)]


class SpecInfo(Struct):
    _fields_ = [("name", c_char * 64), ("uuid", c_char * 37), ("vcpus", c_uint),
                ("time_budget_ns", c_uint64), ("console", c_void_p), ("entry", c_uint64)]


class SerialStats(Struct):
    _fields_ = [("tx_bytes", c_uint64), ("tx_dropped", c_uint64), ("rx_bytes", c_uint64)]


class NetStats(Struct):
    _fields_ = [("tx_frames", c_uint64), ("tx_dropped", c_uint64), ("tx_errors", c_uint64),
                ("rx_frames", c_uint64), ("rx_dropped", c_uint64)]


LOG_FN = CFUNCTYPE(None, c_void_p, c_int, c_char_p, c_char_p)
SERIAL_OUT_FN = CFUNCTYPE(None, c_void_p, POINTER(c_uint8), c_size_t)
CONSOLE_OUT_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_size_t)
NET_TX_FN = CFUNCTYPE(None, c_void_p, c_void_p, c_size_t)

P = c_void_p  # every opaque handle
PP = POINTER(c_void_p)
STRV = POINTER(c_char_p)

# name: (restype, argtypes). Every public function of include/libvmm/*.h.
PROTOTYPES = {
    "vmm_version": (c_char_p, [POINTER(c_int), POINTER(c_int), POINTER(c_int)]),
    "vmm_error_last": (POINTER(Error), []),
    "vmm_error_clear": (None, []),
    "vmm_strerror": (c_char_p, [c_int]),
    "vmm_log_set": (None, [LOG_FN, c_void_p, c_int]),
    "vmm_host_info_get": (c_int, [POINTER(HostInfo)]),
    "vmm_paging_name": (c_char_p, [c_int]),
    "vmm_vm_options_init": (c_int, [POINTER(VmOptions), c_uint]),
    "vmm_vm_create": (c_int, [PP, POINTER(VmOptions)]),
    "vmm_vm_destroy": (None, [P]),
    "vmm_vm_vcpu_count": (c_uint, [P]),
    "vmm_vm_vcpu": (P, [P, c_uint]),
    "vmm_run_options_init": (c_int, [POINTER(RunOptions), c_uint]),
    "vmm_vm_run": (c_int, [P, POINTER(RunOptions), POINTER(RunResult)]),
    "vmm_vm_stop": (c_int, [P]),
    "vmm_vm_pause": (c_int, [P]),
    "vmm_vm_resume": (c_int, [P]),
    "vmm_vm_get_state": (c_int, [P]),
    "vmm_vm_set_sched": (c_int, [P, POINTER(Sched)]),
    "vmm_mem_map": (c_int, [P, c_uint64, c_uint64, c_void_p, c_uint]),
    "vmm_mem_map_file": (c_int, [P, c_uint64, c_char_p, POINTER(c_uint64)]),
    "vmm_mem_unmap": (c_int, [P, c_uint64]),
    "vmm_mem_read": (c_int, [P, c_uint64, c_void_p, c_size_t]),
    "vmm_mem_write": (c_int, [P, c_uint64, c_void_p, c_size_t]),
    "vmm_mem_host_ptr": (c_int, [P, c_uint64, c_uint64, PP]),
    "vmm_mem_dirty_log": (c_int, [P, c_uint64, POINTER(c_uint64), c_size_t]),
    "vmm_vcpu_create": (c_int, [PP, P, c_uint]),
    "vmm_vcpu_index": (c_uint, [P]),
    "vmm_vcpu_vm": (P, [P]),
    "vmm_vcpu_get_regs": (c_int, [P, POINTER(Regs)]),
    "vmm_vcpu_set_regs": (c_int, [P, POINTER(Regs)]),
    "vmm_vcpu_get_sregs": (c_int, [P, POINTER(Sregs)]),
    "vmm_vcpu_set_sregs": (c_int, [P, POINTER(Sregs)]),
    "vmm_vcpu_get_fpu": (c_int, [P, POINTER(Fpu)]),
    "vmm_vcpu_set_fpu": (c_int, [P, POINTER(Fpu)]),
    "vmm_vcpu_get_msrs": (c_int, [P, POINTER(Msr), c_size_t]),
    "vmm_vcpu_set_msrs": (c_int, [P, POINTER(Msr), c_size_t]),
    "vmm_vcpu_run": (c_int, [P, POINTER(Exit)]),
    "vmm_vcpu_kick": (c_int, [P]),
    "vmm_vcpu_set_time_budget": (c_int, [P, c_uint64]),
    "vmm_vcpu_translate": (c_int, [P, c_uint64, c_int, c_int, POINTER(c_uint64)]),
    "vmm_vcpu_read_virt": (c_int, [P, c_uint64, c_void_p, c_size_t]),
    "vmm_vcpu_write_virt": (c_int, [P, c_uint64, c_void_p, c_size_t]),
    "vmm_vcpu_set_debug": (c_int, [P, c_uint]),
    "vmm_exit_reason_name": (c_char_p, [c_int]),
    "vmm_x86_setup_options_init": (c_int, [POINTER(X86SetupOptions), c_uint]),
    "vmm_x86_setup": (c_int, [P, POINTER(X86SetupOptions)]),
    "vmm_x86_set_cpuid": (c_int, [P, POINTER(CpuidEntry), c_size_t]),
    "vmm_x86_supported_cpuid": (c_int, [P, POINTER(CpuidEntry), c_size_t, POINTER(c_size_t)]),
    "vmm_boot_flat": (c_int, [P, c_char_p, c_uint64, POINTER(c_uint64)]),
    "vmm_boot_elf": (c_int, [P, c_char_p, POINTER(c_uint64)]),
    "vmm_linux_boot_init": (c_int, [POINTER(LinuxBoot), c_uint]),
    "vmm_boot_linux": (c_int, [P, POINTER(LinuxBoot)]),
    "vmm_device_register": (c_int, [POINTER(DeviceOps)]),
    "vmm_device_unregister": (c_int, [c_char_p]),
    "vmm_device_find_type": (c_void_p, [c_char_p]),
    "vmm_device_attach": (c_int, [PP, P, c_char_p, c_char_p]),
    "vmm_device_reset": (c_int, [P]),
    "vmm_device_save": (c_int, [P, c_void_p, c_size_t, POINTER(c_size_t)]),
    "vmm_device_load": (c_int, [P, c_void_p, c_size_t]),
    "vmm_device_id": (c_char_p, [P]),
    "vmm_device_type": (c_void_p, [P]),
    "vmm_device_state": (c_void_p, [P]),
    "vmm_device_checking": (c_int, [P]),
    "vmm_device_claim": (c_int, [P, c_int, c_uint64, c_uint64]),
    "vmm_device_set_irq": (c_int, [P, c_uint, c_int]),
    "vmm_device_mem_read": (c_int, [P, c_uint64, c_void_p, c_size_t]),
    "vmm_device_mem_write": (c_int, [P, c_uint64, c_void_p, c_size_t]),
    "vmm_device_stop": (None, [P, c_int]),
    "vmm_device_log": (None, [P, c_int, c_char_p, c_char_p]),
    "vmm_device_log_limited": (None, [P, c_int, c_char_p, c_char_p]),
    "vmm_device_error": (None, [P, c_char_p, c_char_p]),
    "vmm_serial_set_output": (c_int, [P, SERIAL_OUT_FN, c_void_p]),
    "vmm_serial_input": (c_int, [P, c_void_p, c_size_t]),
    "vmm_serial_get_stats": (c_int, [P, POINTER(SerialStats)]),
    "vmm_virtio_console_set_output": (c_int, [P, CONSOLE_OUT_FN, c_void_p]),
    "vmm_virtio_console_input": (c_int, [P, c_void_p, c_size_t, POINTER(c_size_t)]),
    "vmm_virtio_net_set_tx": (c_int, [P, NET_TX_FN, c_void_p]),
    "vmm_virtio_net_receive": (c_int, [P, c_void_p, c_size_t]),
    "vmm_virtio_net_get_stats": (c_int, [P, POINTER(NetStats)]),
    "vmm_snapshot_take": (c_int, [P, PP]),
    "vmm_snapshot_restore": (c_int, [P, P]),
    "vmm_snapshot_restore_flags": (c_int, [P, P, c_uint]),
    "vmm_snapshot_free": (None, [P]),
    "vmm_snapshot_memory_size": (c_size_t, [P]),
    "vmm_snapshot_save": (c_int, [P, c_char_p]),
    "vmm_snapshot_load": (c_int, [c_char_p, PP]),
    "vmm_snapshot_load_buffer": (c_int, [c_void_p, c_size_t, PP]),
    "vmm_snapshot_last_restore": (c_int, [P, POINTER(SnapshotStats)]),
    "vmm_sandbox_options_init": (c_int, [POINTER(SandboxOptions), c_uint]),
    "vmm_sandbox_create": (c_int, [PP, POINTER(SandboxOptions)]),
    "vmm_sandbox_destroy": (None, [P]),
    "vmm_sandbox_load": (c_int, [P, c_char_p, STRV, STRV]),
    "vmm_sandbox_load_buffer": (c_int, [P, c_void_p, c_size_t, STRV, STRV]),
    "vmm_sandbox_register": (c_int, [P, c_char_p, SANDBOX_FN, c_void_p]),
    "vmm_sandbox_set_stdin": (c_int, [P, c_void_p, c_size_t]),
    "vmm_sandbox_run": (c_int, [P, POINTER(SandboxResult)]),
    "vmm_sandbox_reset": (c_int, [P]),
    "vmm_sandbox_stop": (c_int, [P]),
    "vmm_sandbox_output": (POINTER(c_char), [P, c_int, POINTER(c_size_t)]),
    "vmm_sandbox_read": (c_int, [P, c_uint64, c_void_p, c_size_t]),
    "vmm_sandbox_write": (c_int, [P, c_uint64, c_void_p, c_size_t]),
    "vmm_sandbox_vm": (P, [P]),
    "vmm_fuzz_options_init": (c_int, [POINTER(FuzzOptions), c_uint]),
    "vmm_fuzz_create": (c_int, [PP, P, POINTER(FuzzOptions)]),
    "vmm_fuzz_run": (c_int, [P, c_void_p, c_size_t, POINTER(FuzzResult)]),
    "vmm_fuzz_coverage": (POINTER(c_uint8), [P, POINTER(c_size_t)]),
    "vmm_fuzz_reset": (c_int, [P]),
    "vmm_fuzz_get_stats": (c_int, [P, POINTER(FuzzStats)]),
    "vmm_fuzz_snapshot": (P, [P]),
    "vmm_fuzz_destroy": (None, [P]),
    "vmm_vm_create_from_spec": (c_int, [PP, c_char_p, c_size_t, c_char_p, POINTER(SpecInfo)]),
    "vmm_vm_create_from_spec_file": (c_int, [PP, c_char_p, POINTER(SpecInfo)]),
    "vmm_spec_check": (c_int, [c_char_p, c_size_t, c_char_p]),
    "vmm_plugin_load": (c_int, [c_char_p]),
}

for _name, (_res, _args) in PROTOTYPES.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args
