// SPDX-License-Identifier: MIT

package libvmm

/*
#include <stdlib.h>
#include <libvmm/vmm.h>

static int gv_boot_linux(vmm_vm *vm, const char *kernel, const char *initrd, const char *cmdline,
                         unsigned int flags, int cpuid)
{
    vmm_linux_boot b = VMM_LINUX_BOOT_INIT;
    b.kernel = kernel;
    b.initrd = initrd;
    b.cmdline = cmdline;
    b.flags = flags;
    b.cpuid = (vmm_linux_cpuid)cpuid;
    return vmm_boot_linux(vm, &b);
}

static int gv_set_sched(vmm_vm *vm, unsigned int weight, unsigned int cap, uint64_t affinity)
{
    vmm_sched s = VMM_SCHED_INIT;
    s.weight = weight;
    s.cap = cap;
    s.affinity = affinity;
    return vmm_vm_set_sched(vm, &s);
}
*/
import "C"

import (
	"unsafe"
)

// VMState is whether a VM.Run is in progress.
type VMState int

// VM states.
const (
	VMIdle    VMState = C.VMM_VM_IDLE
	VMRunning VMState = C.VMM_VM_RUNNING
	VMPaused  VMState = C.VMM_VM_PAUSED
)

// State is the VM's state. From any goroutine.
func (v *VM) State() VMState {
	vm, err := v.handle("State")
	if err != nil {
		return VMIdle
	}
	return VMState(C.vmm_vm_get_state(vm))
}

// Pause parks every vCPU of a VM.Run in progress (then Snapshot works);
// Resume lets them go on. From any goroutine.
func (v *VM) Pause() error {
	vm, err := v.handle("Pause")
	if err != nil {
		return err
	}
	return call(func() C.int { return C.vmm_vm_pause(vm) })
}

// Resume ends a Pause.
func (v *VM) Resume() error {
	vm, err := v.handle("Resume")
	if err != nil {
		return err
	}
	return call(func() C.int { return C.vmm_vm_resume(vm) })
}

// SetSched sets how the VM's vCPU threads are scheduled: weight 1..65535
// (256 is the default), cap 0 (none) or 1..100 percent of a CPU, and a mask
// of host CPUs (0: any).
func (v *VM) SetSched(weight, cap int, affinity uint64) error {
	vm, err := v.handle("SetSched")
	if err != nil {
		return err
	}
	return call(func() C.int {
		return C.gv_set_sched(vm, C.uint(weight), C.uint(cap), C.uint64_t(affinity))
	})
}

// MapFile maps a file's contents read-only at gpa; its size.
func (v *VM) MapFile(gpa uint64, path string) (uint64, error) {
	vm, err := v.handle("MapFile")
	if err != nil {
		return 0, err
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var size C.uint64_t
	err = call(func() C.int { return C.vmm_mem_map_file(vm, C.uint64_t(gpa), cp, &size) })
	return uint64(size), err
}

// DirtyLog returns (and clears) the bitmap of pages written in the region
// at gpa (mapped with MemDirtyLog): bit i of word i/64 is page i.
func (v *VM) DirtyLog(gpa uint64, pages int) ([]uint64, error) {
	vm, err := v.handle("DirtyLog")
	if err != nil {
		return nil, err
	}
	words := (pages + 63) / 64
	if words == 0 {
		words = 1
	}
	bm := make([]uint64, words)
	err = call(func() C.int {
		return C.vmm_mem_dirty_log(vm, C.uint64_t(gpa), (*C.uint64_t)(unsafe.Pointer(&bm[0])),
			C.size_t(words))
	})
	return bm, err
}

// Linux CPUID policies (LinuxBoot.CPUID).
const (
	LinuxCPUIDAuto = C.VMM_LINUX_CPUID_AUTO
	LinuxCPUIDHost = C.VMM_LINUX_CPUID_HOST
	LinuxCPUIDSafe = C.VMM_LINUX_CPUID_SAFE
)

// LinuxBoot is what BootLinux loads.
type LinuxBoot struct {
	Kernel  string // bzImage or vmlinux
	Initrd  string // "" for none
	Cmdline string
	Flags   uint32 // VMM_LINUX_* flags
	CPUID   int    // LinuxCPUID*
}

// BootLinux loads a Linux kernel (and initrd) and sets vCPU 0 up to enter
// it; the VM needs VMIrqchip and its vCPUs made first.
func (v *VM) BootLinux(b LinuxBoot) error {
	vm, err := v.handle("BootLinux")
	if err != nil {
		return err
	}
	str := func(s string) *C.char {
		if s == "" {
			return nil
		}
		return C.CString(s)
	}
	k, i, c := str(b.Kernel), str(b.Initrd), str(b.Cmdline)
	defer C.free(unsafe.Pointer(k))
	defer C.free(unsafe.Pointer(i))
	defer C.free(unsafe.Pointer(c))
	return call(func() C.int { return C.gv_boot_linux(vm, k, i, c, C.uint(b.Flags), C.int(b.CPUID)) })
}

// RestoreStats is what the last Restore did.
type RestoreStats struct {
	PagesDirty, PagesCopied, PagesTotal uint64
	Full, ShadowFlushed                 bool
	DurationNS                          uint64
}

// LastRestore reports the VM's last snapshot restore.
func (v *VM) LastRestore() (*RestoreStats, error) {
	vm, err := v.handle("LastRestore")
	if err != nil {
		return nil, err
	}
	var s C.vmm_snapshot_stats
	if err := call(func() C.int { return C.vmm_snapshot_last_restore(vm, &s) }); err != nil {
		return nil, err
	}
	return &RestoreStats{uint64(s.pages_dirty), uint64(s.pages_copied), uint64(s.pages_total),
		s.full != 0, s.shadow_flushed != 0, uint64(s.duration_ns)}, nil
}

// LoadSnapshotBuffer reads a snapshot from the bytes of a snapshot file.
func LoadSnapshotBuffer(b []byte) (*Snapshot, error) {
	if len(b) == 0 {
		return nil, &Error{Code: int(C.VMM_EINVAL), Message: "LoadSnapshotBuffer: empty"}
	}
	var s *C.vmm_snapshot
	if err := call(func() C.int {
		return C.vmm_snapshot_load_buffer(unsafe.Pointer(&b[0]), C.size_t(len(b)), &s)
	}); err != nil {
		return nil, err
	}
	return wrapSnapshot(s), nil
}

// LoadPlugin loads a shared object that registers device types.
func LoadPlugin(path string) error {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	return call(func() C.int { return C.vmm_plugin_load(cp) })
}

// MSR is a model-specific register's index and value.
type MSR struct {
	Index uint32
	Value uint64
}

// MSRs reads the values of the given MSRs (their Index set).
func (c *VCPU) MSRs(msrs []MSR) error {
	return c.msrs("MSRs", msrs, false)
}

// SetMSRs writes MSRs.
func (c *VCPU) SetMSRs(msrs []MSR) error {
	return c.msrs("SetMSRs", msrs, true)
}

func (c *VCPU) msrs(what string, msrs []MSR, set bool) error {
	p, err := c.handle(what)
	if err != nil || len(msrs) == 0 {
		return err
	}
	buf := make([]C.vmm_msr, len(msrs))
	for i, m := range msrs {
		buf[i].index = C.uint32_t(m.Index)
		buf[i].value = C.uint64_t(m.Value)
	}
	err = call(func() C.int {
		if set {
			return C.vmm_vcpu_set_msrs(p, &buf[0], C.size_t(len(buf)))
		}
		return C.vmm_vcpu_get_msrs(p, &buf[0], C.size_t(len(buf)))
	})
	for i := range msrs {
		msrs[i].Value = uint64(buf[i].value)
	}
	return err
}

// Translate turns a guest-virtual address into a guest-physical one through
// the vCPU's page tables, as an access of that kind would.
func (c *VCPU) Translate(gva uint64, write, user bool) (uint64, error) {
	p, err := c.handle("Translate")
	if err != nil {
		return 0, err
	}
	b := func(x bool) C.int {
		if x {
			return 1
		}
		return 0
	}
	var gpa C.uint64_t
	err = call(func() C.int { return C.vmm_vcpu_translate(p, C.uint64_t(gva), b(write), b(user), &gpa) })
	return uint64(gpa), err
}

// ReadVirt copies guest memory at a guest-virtual address into buf.
func (c *VCPU) ReadVirt(gva uint64, buf []byte) error {
	p, err := c.handle("ReadVirt")
	if err != nil || len(buf) == 0 {
		return err
	}
	return call(func() C.int {
		return C.vmm_vcpu_read_virt(p, C.uint64_t(gva), unsafe.Pointer(&buf[0]), C.size_t(len(buf)))
	})
}

// WriteVirt copies data to a guest-virtual address.
func (c *VCPU) WriteVirt(gva uint64, data []byte) error {
	p, err := c.handle("WriteVirt")
	if err != nil || len(data) == 0 {
		return err
	}
	return call(func() C.int {
		return C.vmm_vcpu_write_virt(p, C.uint64_t(gva), unsafe.Pointer(&data[0]),
			C.size_t(len(data)))
	})
}

// Debug flags (VCPU.SetDebug).
const (
	DebugSingleStep    = C.VMM_DEBUG_SINGLESTEP
	DebugSWBreakpoints = C.VMM_DEBUG_SW_BREAKPOINTS
)

// SetDebug turns guest debugging on (Debug* flags) or off (0).
func (c *VCPU) SetDebug(flags uint32) error {
	p, err := c.handle("SetDebug")
	if err != nil {
		return err
	}
	return call(func() C.int { return C.vmm_vcpu_set_debug(p, C.uint(flags)) })
}
