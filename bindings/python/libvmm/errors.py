# SPDX-License-Identifier: MIT
"""libvmm's errors as Python exceptions: VmmError and one subclass per code."""
from __future__ import annotations

from typing import Dict, Optional, Type

from . import _native

_lib = _native.lib


class VmmError(Exception):
    """A libvmm call failed.

    ``code`` is the negative VMM_E* value the C call returned, ``errno`` the
    Linux errno it carries (None for libvmm's own codes, -1000 and below), and
    ``str()`` the message ``vmm_error_last()`` recorded for the failure."""

    code = 0

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def errno(self) -> Optional[int]:
        return -self.code if -1000 < self.code < 0 else None

    @property
    def message(self) -> str:
        return self.args[0]


def _cls(name: str, code: int, doc: str) -> Type[VmmError]:
    return type(name, (VmmError,), {"code": code, "__doc__": doc})


PermissionDenied = _cls("PermissionDenied", -1, "VMM_EPERM: operation not permitted.")
NotFound = _cls("NotFound", -2, "VMM_ENOENT: no such file, device type, region or object.")
IOFailure = _cls("IOFailure", -5, "VMM_EIO: I/O error talking to the host.")
TooBig = _cls("TooBig", -7, "VMM_E2BIG: too many items.")
TryAgain = _cls("TryAgain", -11, "VMM_EAGAIN: try again later.")
OutOfMemory = _cls("OutOfMemory", -12, "VMM_ENOMEM: out of memory, or a memory limit reached.")
Fault = _cls("Fault", -14, "VMM_EFAULT: guest address not backed by RAM or not mapped.")
Busy = _cls("Busy", -16, "VMM_EBUSY: object in use (e.g. the vCPU is running).")
Exists = _cls("Exists", -17, "VMM_EEXIST: already exists, or overlapping.")
NoDevice = _cls("NoDevice", -19, "VMM_ENODEV: /dev/kvm absent or unusable.")
InvalidArgument = _cls("InvalidArgument", -22, "VMM_EINVAL: invalid argument.")
OutOfRange = _cls("OutOfRange", -34, "VMM_ERANGE: value or address out of range.")
NotImplemented_ = _cls("NotImplemented_", -38, "VMM_ENOSYS: not implemented.")
Overflow = _cls("Overflow", -75, "VMM_EOVERFLOW: a size or address would overflow.")
NotSupported = _cls("NotSupported", -95, "VMM_ENOTSUP: the host KVM lacks a capability.")
TimedOut = _cls("TimedOut", -110, "VMM_ETIMEDOUT: a time budget expired.")
VersionError = _cls("VersionError", -1000, "VMM_EVERSION: unknown options or ops version.")
KvmError = _cls("KvmError", -1001, "VMM_EKVM: KVM refused an operation.")
ConfigError = _cls("ConfigError", -1002, "VMM_ECONFIG: a JSON configuration is malformed.")
StateError = _cls("StateError", -1003, "VMM_ESTATE: object in the wrong state for this call.")

#: code -> exception class
BY_CODE: Dict[int, Type[VmmError]] = {c.code: c for c in (
    PermissionDenied, NotFound, IOFailure, TooBig, TryAgain, OutOfMemory, Fault, Busy, Exists,
    NoDevice, InvalidArgument, OutOfRange, NotImplemented_, Overflow, NotSupported, TimedOut,
    VersionError, KvmError, ConfigError, StateError)}


def error_for(code: int, message: Optional[str] = None) -> VmmError:
    """The exception for a negative code, with the thread's last message."""
    if message is None:
        last = _lib.vmm_error_last().contents
        message = (last.message or b"").decode("utf-8", "replace")
        if last.code != code or not message:
            message = "%s (%s)" % (message, strerror(code)) if message else strerror(code)
    return BY_CODE.get(code, VmmError)(message, code)


def check(code: int) -> int:
    """Raise for a negative return code; return it otherwise."""
    if code < 0:
        raise error_for(code)
    return code


def strerror(code: int) -> str:
    """vmm_strerror(): a short description of an error code."""
    return _lib.vmm_strerror(code).decode()


__all__ = ["VmmError", "BY_CODE", "strerror"] + [c.__name__ for c in BY_CODE.values()]
