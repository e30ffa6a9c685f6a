# SPDX-License-Identifier: MIT
"""The bindings against the C headers, compiled here: every enum value and
constant, every struct's size and field offsets, and every public function
(no KVM needed)."""
import ctypes
import json
import os
import re
import shutil
import subprocess

import pytest

import libvmm
from libvmm import _native as N

from conftest import TOP

INCLUDE = os.path.join(TOP, "include")

ENUMS = {
    libvmm.ExitReason: "VMM_EXIT_", libvmm.Paging: "VMM_PAGING_", libvmm.LogLevel: "VMM_LOG_",
    libvmm.Space: "VMM_SPACE_", libvmm.X86Mode: "VMM_X86_", libvmm.LinuxCpuid: "VMM_LINUX_CPUID_",
    libvmm.SandboxAction: "VMM_SANDBOX_", libvmm.SandboxOutcome: "VMM_SANDBOX_",
    libvmm.FuzzOutcome: "VMM_FUZZ_", libvmm.VmState: "VMM_VM_",
    libvmm.VmFlags: "VMM_VM_", libvmm.MemFlags: "VMM_MEM_", libvmm.DebugFlags: "VMM_DEBUG_",
    libvmm.HostCaps: "VMM_CAP_", libvmm.LinuxFlags: "VMM_LINUX_",
    libvmm.SnapshotFlags: "VMM_SNAPSHOT_", libvmm.SandboxFlags: "VMM_SANDBOX_",
    libvmm.FuzzFlags: "VMM_FUZZ_", libvmm.X86Exceptions: "VMM_X86_EXCEPTIONS_",
}
CONSTANTS = {
    "FUZZ_VECTOR_SHUTDOWN": "VMM_FUZZ_VECTOR_SHUTDOWN", "PAGE_SIZE": "VMM_PAGE_SIZE",
    "X86_TABLES_DEFAULT": "VMM_X86_TABLES_DEFAULT", "X86_TABLES_MAX_SIZE": "VMM_X86_TABLES_MAX_SIZE",
    "HOSTCALL_NR": "VMM_HOSTCALL_NR", "VM_OPTIONS_VERSION": "VMM_VM_OPTIONS_VERSION",
    "RUN_OPTIONS_VERSION": "VMM_RUN_OPTIONS_VERSION", "SCHED_VERSION": "VMM_SCHED_VERSION",
    "X86_SETUP_OPTIONS_VERSION": "VMM_X86_SETUP_OPTIONS_VERSION",
    "LINUX_BOOT_VERSION": "VMM_LINUX_BOOT_VERSION", "DEVICE_OPS_VERSION": "VMM_DEVICE_OPS_VERSION",
    "SANDBOX_OPTIONS_VERSION": "VMM_SANDBOX_OPTIONS_VERSION",
    "FUZZ_OPTIONS_VERSION": "VMM_FUZZ_OPTIONS_VERSION",
}
STRUCTS = {
    "vmm_error": N.Error, "vmm_host_info": N.HostInfo, "vmm_vm_options": N.VmOptions,
    "vmm_regs": N.Regs, "vmm_segment": N.Segment, "vmm_dtable": N.DTable, "vmm_sregs": N.Sregs,
    "vmm_fpu": N.Fpu, "vmm_msr": N.Msr, "vmm_exit": N.Exit, "vmm_run_options": N.RunOptions,
    "vmm_run_result": N.RunResult, "vmm_sched": N.Sched,
    "vmm_x86_setup_options": N.X86SetupOptions, "vmm_cpuid_entry": N.CpuidEntry,
    "vmm_linux_boot": N.LinuxBoot, "vmm_device_ops": N.DeviceOps,
    "vmm_snapshot_stats": N.SnapshotStats, "vmm_sandbox_syscall": N.SandboxSyscall,
    "vmm_sandbox_options": N.SandboxOptions, "vmm_sandbox_result": N.SandboxResult,
    "vmm_fuzz_options": N.FuzzOptions, "vmm_fuzz_result": N.FuzzResult,
    "vmm_fuzz_stats": N.FuzzStats, "vmm_spec_info": N.SpecInfo,
    "vmm_serial_stats": N.SerialStats, "vmm_net_stats": N.NetStats,
}


def c_names():
    """Every C name the enums stand for, by its enum member."""
    for cls, prefix in ENUMS.items():
        for m in cls:
            if m.name == "NONE" and issubclass(cls, libvmm.enums.enum.IntFlag):
                continue
            yield cls, m, prefix + m.name


def public_headers():
    """Every public header: include/libvmm/*.h and the sys/ headers for device authors."""
    for d, _, files in os.walk(os.path.join(INCLUDE, "libvmm")):
        for f in sorted(files):
            if f.endswith(".h"):
                yield os.path.join(d, f)


@pytest.fixture(scope="module")
def c_values(tmp_path_factory):
    """Compile a program that prints every value, size and offset the tests check."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler")
    lines = ['#include <libvmm/vmm.h>', '#include <libvmm/sys/device.h>',
             '#include <libvmm/sandbox_guest.h>', '#include <stdio.h>',
             '#include <stddef.h>', 'int main(void) {']
    for _, _, name in c_names():
        lines.append('printf("%s %%lld\\n", (long long)(%s));' % (name, name))
    for name in CONSTANTS.values():
        lines.append('printf("%s %%lld\\n", (long long)(%s));' % (name, name))
    for cname, st in STRUCTS.items():
        lines.append('printf("sizeof.%s %%zu\\n", sizeof(%s));' % (cname, cname))
        for f in st._fields_:
            lines.append('printf("offsetof.%s.%s %%zu\\n", offsetof(%s, %s));'
                         % (cname, f[0], cname, f[0]))
    lines.append("return 0; }")
    d = tmp_path_factory.mktemp("abi")
    (d / "abi.c").write_text("\n".join(lines))
    subprocess.run([cc, "-std=c11", "-I", INCLUDE, str(d / "abi.c"), "-o", str(d / "abi")],
                   check=True)
    out = subprocess.run([str(d / "abi")], check=True, capture_output=True, text=True).stdout
    return dict(line.rsplit(" ", 1) for line in out.splitlines())


def test_enums_match_headers(c_values):
    for cls, member, name in c_names():
        assert int(member) == int(c_values[name]), "%s.%s != %s" % (cls.__name__, member.name,
                                                                   name)


def test_enums_cover_headers():
    """Every VMM_EXIT_/VMM_SANDBOX_/... enumerator of the headers has a member."""
    text = "".join(open(f).read() for f in public_headers())
    covered = {name for _, _, name in c_names()}
    for prefix in ("VMM_EXIT_", "VMM_SANDBOX_", "VMM_FUZZ_", "VMM_PAGING_", "VMM_CAP_",
                   "VMM_MEM_", "VMM_DEBUG_", "VMM_LOG_", "VMM_X86_EXCEPTIONS_"):
        for name in set(re.findall(r"\b(%s[A-Z0-9_]+)\s*(?:=|\(|0x|[0-9])" % prefix, text)):
            if name.endswith(("_VERSION", "_INIT", "_H")) or name in CONSTANTS.values():
                continue
            assert name in covered, "%s has no Python enum member" % name


def test_constants_match_headers(c_values):
    for py, c in CONSTANTS.items():
        assert getattr(libvmm.enums, py) == int(c_values[c]), py


def test_struct_layouts_match_headers(c_values):
    for cname, st in STRUCTS.items():
        assert ctypes.sizeof(st) == int(c_values["sizeof." + cname]), cname
        for f in st._fields_:
            assert getattr(st, f[0]).offset == int(c_values["offsetof.%s.%s" % (cname, f[0])]), \
                "%s.%s" % (cname, f[0])


def test_every_public_function_is_bound():
    declared = set()
    for f in public_headers():
        text = open(f).read()
        declared |= set(re.findall(r"VMM_EXTERN[^;(]*?\b(vmm_\w+)\s*\(", text, re.S))
    assert declared, "no declarations found"
    assert declared == set(N.PROTOTYPES), (declared ^ set(N.PROTOTYPES))


def test_errors():
    assert libvmm.BY_CODE[-22] is libvmm.InvalidArgument
    e = libvmm.errors.error_for(-1002, "devices[1].id: duplicate id")
    assert isinstance(e, libvmm.ConfigError) and isinstance(e, libvmm.VmmError)
    assert e.code == -1002 and e.errno is None and "devices[1]" in str(e)
    assert libvmm.errors.error_for(-2, "x").errno == 2
    assert libvmm.errors.strerror(-22)
    spec = json.load(open(os.path.join(TOP, "examples", "specs", "hello-long.json")))
    spec["devices"][1]["type"] = 5
    with pytest.raises(libvmm.ConfigError) as ei:
        libvmm.spec_check(spec, os.path.join(TOP, "examples", "specs"))
    assert ei.value.code == -1002 and str(ei.value).startswith("devices[1].type")


def test_version():
    assert libvmm.version() == "%d.%d.%d" % libvmm.version_info()
    assert libvmm.version_info()[:2] >= N.BINDINGS_FOR
