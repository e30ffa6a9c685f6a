# SPDX-License-Identifier: MIT
"""libvmm: a hypervisor as a library (KVM), from Python.

    import libvmm
    with libvmm.Vm() as vm:
        vm.map(0, 2 << 20)
        vm.write(0x10000, code)
        cpu = vm.vcpu(0)
        cpu.setup(libvmm.X86Mode.LONG, entry=0x10000)
        x = cpu.run()

Errors raise libvmm.VmmError (a subclass per code); the library's log goes to
the "libvmm" logger. See docs/python.md.
"""
import atexit as _atexit

from . import _native
from .errors import *  # noqa: F401,F403
from .enums import *  # noqa: F401,F403
from ._core import (Device, DeviceContext, Exit, HostInfo, Regs, RunResult, Snapshot, Sregs,
                    Fpu, CpuidEntry, Vcpu, Vm, host_info, load_plugin, register_device,
                    set_log_level, spec_check, unregister_device, version, version_info)
from ._core import _log_off
from ._sandbox import Fuzz, FuzzResult, Sandbox, SandboxResult, Syscall

__version__ = "0.1.0"


def _check_version() -> None:
    major, minor, _ = version_info()
    want = _native.BINDINGS_FOR
    if major != want[0] or minor < want[1]:
        raise ImportError("libvmm: these bindings are for libvmm %d.%d or a later %d.x, but %s "
                          "loaded version %s" % (want[0], want[1], want[0], _native.path,
                                                 version()))


_check_version()
set_log_level(LogLevel.WARN)
_atexit.register(_log_off)
