# SPDX-License-Identifier: MIT
"""The C API's enums and flags (tests/test_abi.py checks them against the headers)."""
import enum


class ExitReason(enum.IntEnum):
    """vmm_exit_reason: why a vCPU run returned."""
    NONE = 0
    HLT = 1
    IO = 2
    MMIO = 3
    SHUTDOWN = 4
    DEBUG = 5
    KICKED = 6
    TIMEOUT = 7
    FAULT = 8
    INTERNAL_ERROR = 9
    STATUS = 10
    FAIL_ENTRY = 11
    SYSTEM_EVENT = 12


class VmFlags(enum.IntFlag):
    """vmm_vm_options.flags."""
    NONE = 0
    IRQCHIP = 0x1
    PIT = 0x2


class VmState(enum.IntEnum):
    """vmm_vm_state."""
    IDLE = 0
    RUNNING = 1
    PAUSED = 2


class MemFlags(enum.IntFlag):
    """vmm_mem_map() flags."""
    NONE = 0
    READONLY = 0x1
    DIRTY_LOG = 0x2
    HUGEPAGES = 0x4


class DebugFlags(enum.IntFlag):
    """vmm_vcpu_set_debug() flags."""
    NONE = 0
    SINGLESTEP = 0x1
    SW_BREAKPOINTS = 0x2


class Paging(enum.IntEnum):
    """vmm_paging: how the host virtualises guest page tables."""
    UNKNOWN = 0
    EPT = 1
    NPT = 2
    SHADOW = 3


class HostCaps(enum.IntFlag):
    """vmm_host_info.caps bits."""
    NONE = 0
    IRQCHIP = 1 << 0
    PIT = 1 << 1
    IRQFD = 1 << 2
    IOEVENTFD = 1 << 3
    IMMEDIATE_EXIT = 1 << 4
    READONLY_MEM = 1 << 5
    XSAVE = 1 << 6
    DEBUGREGS = 1 << 7
    VCPU_EVENTS = 1 << 8
    DIRTY_LOG = 1 << 9
    GUEST_DEBUG = 1 << 10
    TSC_DEADLINE = 1 << 11


class LogLevel(enum.IntEnum):
    """vmm_log_level."""
    DEBUG = 0
    INFO = 1
    WARN = 2
    ERROR = 3


class Space(enum.IntEnum):
    """vmm_space: where a device claims a range."""
    PIO = 0
    MMIO = 1


class X86Mode(enum.IntEnum):
    """vmm_x86_mode: the CPU mode a guest starts in."""
    REAL = 0
    PROTECTED = 1
    LONG = 2


class X86Exceptions(enum.IntEnum):
    """vmm_x86_exceptions."""
    NONE = 0
    REPORT = 1


class LinuxCpuid(enum.IntEnum):
    """vmm_linux_cpuid."""
    AUTO = 0
    HOST = 1
    SAFE = 2


class LinuxFlags(enum.IntFlag):
    """vmm_linux_boot.flags."""
    NONE = 0
    NO_VIRTIO_CMDLINE = 0x1
    NO_MPTABLE = 0x2


class SnapshotFlags(enum.IntFlag):
    """vmm_snapshot_restore_flags() flags."""
    NONE = 0
    KEEP_PAGE_TABLES = 1


class SandboxFlags(enum.IntFlag):
    """vmm_sandbox_options.flags."""
    NONE = 0
    ONESHOT = 0x1


class SandboxAction(enum.IntEnum):
    """What a system-call policy decides."""
    DEFAULT = 0
    HANDLED = 1
    KILL = 2


class SandboxOutcome(enum.IntEnum):
    """vmm_sandbox_outcome: how a sandbox run ended."""
    EXITED = 1
    FAULT = 2
    TIMEOUT = 3
    OUTPUT_LIMIT = 4
    KILLED = 5
    STOPPED = 6
    CRASHED = 7


class FuzzFlags(enum.IntFlag):
    """vmm_fuzz_options.flags."""
    NONE = 0
    KEEP_PAGE_TABLES = 1


class FuzzOutcome(enum.IntEnum):
    """vmm_fuzz_outcome: how a fuzz run ended."""
    OK = 0
    STATUS = 1
    CRASH = 2
    TIMEOUT = 3
    EXIT = 4


#: vmm_fuzz_result.vector of a crash that was a triple fault.
FUZZ_VECTOR_SHUTDOWN = 256
#: Guest page size (VMM_PAGE_SIZE).
PAGE_SIZE = 4096
#: vmm_x86_setup()'s default tables address and their largest size.
X86_TABLES_DEFAULT = 0x9000
X86_TABLES_MAX_SIZE = 0x7000
#: The host-function system-call number (sandbox_guest.h).
HOSTCALL_NR = 0x564D4D01

# Versions of the C structs these bindings fill.
VM_OPTIONS_VERSION = 1
RUN_OPTIONS_VERSION = 1
SCHED_VERSION = 1
X86_SETUP_OPTIONS_VERSION = 2
LINUX_BOOT_VERSION = 1
DEVICE_OPS_VERSION = 1
SANDBOX_OPTIONS_VERSION = 1
FUZZ_OPTIONS_VERSION = 1


__all__ = [n for n, v in list(globals().items())
           if not n.startswith("_") and n != "enum" and (isinstance(v, (int, type)))]
