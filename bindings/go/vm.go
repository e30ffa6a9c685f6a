// SPDX-License-Identifier: MIT

package libvmm

/*
#include <stdlib.h>
#include <libvmm/vmm.h>

static int gv_vm_create(vmm_vm **out, unsigned int flags, uint64_t memory_limit)
{
    vmm_vm_options o = VMM_VM_OPTIONS_INIT;
    o.flags = flags;
    o.memory_limit = memory_limit;
    return vmm_vm_create(out, &o);
}

static int gv_vm_run(vmm_vm *vm, uint64_t budget_ns, vmm_run_result *res)
{
    vmm_run_options o = VMM_RUN_OPTIONS_INIT;
    o.time_budget_ns = budget_ns;
    return vmm_vm_run(vm, &o, res);
}
*/
import "C"

import (
	"context"
	"encoding/json"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// VM flags (VMOptions.Flags).
const (
	VMIrqchip = C.VMM_VM_IRQCHIP // the in-kernel interrupt controllers
	VMPit     = C.VMM_VM_PIT     // the in-kernel PIT (implies VMIrqchip)
)

// Memory flags (VM.MapMemory).
const (
	MemReadOnly  = C.VMM_MEM_READONLY
	MemDirtyLog  = C.VMM_MEM_DIRTY_LOG
	MemHugePages = C.VMM_MEM_HUGEPAGES
)

// VMOptions are NewVM's options; the zero value is the library's default.
type VMOptions struct {
	Flags       uint32 // VMIrqchip, VMPit
	MemoryLimit uint64 // bytes all mapped regions may total; 0: no limit
}

// VM is a virtual machine. Close it when done; a VM that becomes
// unreachable is closed by a finalizer, but its memory and descriptors are
// held until then.
type VM struct {
	mu      sync.Mutex
	vm      *C.vmm_vm
	vcpus   map[int]*VCPU
	devices []*Device
	pending *pending // a Go device's failure, for the call that ran the guest
	// Spec is what a spec-built VM's spec said (nil otherwise).
	Spec *SpecInfo
}

// NewVM creates a VM (opts nil: the defaults).
func NewVM(opts *VMOptions) (*VM, error) {
	if err := checkVersion(); err != nil {
		return nil, err
	}
	var o VMOptions
	if opts != nil {
		o = *opts
	}
	var vm *C.vmm_vm
	if err := call(func() C.int {
		return C.gv_vm_create(&vm, C.uint(o.Flags), C.uint64_t(o.MemoryLimit))
	}); err != nil {
		return nil, err
	}
	return wrapVM(vm), nil
}

func wrapVM(vm *C.vmm_vm) *VM {
	v := &VM{vm: vm, vcpus: map[int]*VCPU{}, pending: &pending{}}
	runtime.SetFinalizer(v, (*VM).Close)
	return v
}

// Close destroys the VM, its vCPUs and devices. It is safe to call twice;
// no run may be in progress.
func (v *VM) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.vm == nil {
		return nil
	}
	C.vmm_vm_destroy(v.vm)
	v.vm = nil
	for _, c := range v.vcpus {
		c.vcpu = nil
	}
	for _, d := range v.devices {
		d.release()
	}
	v.devices = nil
	runtime.SetFinalizer(v, nil)
	return nil
}

// handle is the C VM, or an error once closed.
func (v *VM) handle(what string) (*C.vmm_vm, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.vm == nil {
		return nil, errClosed(what)
	}
	return v.vm, nil
}

// MapMemory maps size bytes of new, zeroed guest RAM at guest-physical
// address gpa (page aligned), with Mem* flags.
func (v *VM) MapMemory(gpa, size uint64, flags uint32) error {
	vm, err := v.handle("MapMemory")
	if err != nil {
		return err
	}
	return call(func() C.int {
		return C.vmm_mem_map(vm, C.uint64_t(gpa), C.uint64_t(size), nil, C.uint(flags))
	})
}

// UnmapMemory removes the region that starts at gpa.
func (v *VM) UnmapMemory(gpa uint64) error {
	vm, err := v.handle("UnmapMemory")
	if err != nil {
		return err
	}
	return call(func() C.int { return C.vmm_mem_unmap(vm, C.uint64_t(gpa)) })
}

// ReadMemory copies len(buf) bytes of guest RAM at gpa into buf.
func (v *VM) ReadMemory(gpa uint64, buf []byte) error {
	vm, err := v.handle("ReadMemory")
	if err != nil || len(buf) == 0 {
		return err
	}
	return call(func() C.int {
		return C.vmm_mem_read(vm, C.uint64_t(gpa), unsafe.Pointer(&buf[0]), C.size_t(len(buf)))
	})
}

// WriteMemory copies data into guest RAM at gpa.
func (v *VM) WriteMemory(gpa uint64, data []byte) error {
	vm, err := v.handle("WriteMemory")
	if err != nil || len(data) == 0 {
		return err
	}
	return call(func() C.int {
		return C.vmm_mem_write(vm, C.uint64_t(gpa), unsafe.Pointer(&data[0]),
			C.size_t(len(data)))
	})
}

// Memory is guest RAM at [gpa, gpa+size) as a slice without a copy. It stays
// valid while the region stays mapped and the VM open; the guest may change
// it at any time while it runs.
func (v *VM) Memory(gpa, size uint64) ([]byte, error) {
	vm, err := v.handle("Memory")
	if err != nil {
		return nil, err
	}
	var p unsafe.Pointer
	if err := call(func() C.int {
		return C.vmm_mem_host_ptr(vm, C.uint64_t(gpa), C.uint64_t(size), &p)
	}); err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), int(size)), nil
}

// LoadFlat copies a flat binary image into guest RAM at gpa; its size.
func (v *VM) LoadFlat(path string, gpa uint64) (uint64, error) {
	vm, err := v.handle("LoadFlat")
	if err != nil {
		return 0, err
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var size C.uint64_t
	err = call(func() C.int { return C.vmm_boot_flat(vm, cp, C.uint64_t(gpa), &size) })
	return uint64(size), err
}

// LoadELF loads an ELF executable's segments into guest RAM; its entry point.
func (v *VM) LoadELF(path string) (uint64, error) {
	vm, err := v.handle("LoadELF")
	if err != nil {
		return 0, err
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var entry C.uint64_t
	err = call(func() C.int { return C.vmm_boot_elf(vm, cp, &entry) })
	return uint64(entry), err
}

// configJSON turns a device configuration into JSON text: nil (the
// defaults), a string or []byte already in JSON, or anything encoding/json
// encodes as an object (a map, a struct).
func configJSON(config any) (*C.char, error) {
	switch c := config.(type) {
	case nil:
		return nil, nil
	case string:
		return C.CString(c), nil
	case []byte:
		return C.CString(string(c)), nil
	}
	b, err := json.Marshal(config)
	if err != nil {
		return nil, &Error{Code: int(C.VMM_ECONFIG), Message: "device config: " + err.Error()}
	}
	return C.CString(string(b)), nil
}

// Attach creates a device of a registered type (built-in, a plugin's, or
// one written in Go: RegisterDevice) from its configuration (see
// configJSON) and attaches it to the VM. Not while the VM runs.
func (v *VM) Attach(typ string, config any) (*Device, error) {
	vm, err := v.handle("Attach")
	if err != nil {
		return nil, err
	}
	cfg, err := configJSON(config)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cfg))
	ct := C.CString(typ)
	defer C.free(unsafe.Pointer(ct))
	var d *C.vmm_device
	if err := withAttaching(v.pending, func() error {
		return call(func() C.int { return C.vmm_device_attach(&d, vm, ct, cfg) })
	}); err != nil {
		return nil, err
	}
	dev := &Device{dev: d, vm: v}
	v.mu.Lock()
	v.devices = append(v.devices, dev)
	v.mu.Unlock()
	return dev, nil
}

// RunResult is how VM.Run ended.
type RunResult struct {
	Reason ExitReason // HLT, STATUS, SHUTDOWN, KICKED (stopped), TIMEOUT, ...
	Status int        // for STATUS
	VCPU   int        // the vCPU whose exit ended the run
	Exit   Exit       // that exit (without data)
}

// Run runs all vCPUs, each on a thread of the library's, until one ends
// the run (a device's status, a shutdown, all halted, an error) or ctx is
// done (the run is stopped: RunResult.Reason KICKED, and ctx.Err() is
// returned with it). Unclaimed reads see all ones.
func (v *VM) Run(ctx context.Context) (*RunResult, error) {
	return v.RunBudget(ctx, 0)
}

// RunBudget is Run with a wall-clock budget for the whole run (0: none),
// after which the result is TIMEOUT.
func (v *VM) RunBudget(ctx context.Context, budget time.Duration) (*RunResult, error) {
	vm, err := v.handle("Run")
	if err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	defer whileRunning(ctx, func() { C.vmm_vm_stop(vm) })()
	var res C.vmm_run_result
	if err := call(func() C.int {
		return C.gv_vm_run(vm, C.uint64_t(budget.Nanoseconds()), &res)
	}); err != nil {
		return nil, err
	}
	r := &RunResult{Reason: ExitReason(res.reason), Status: int(res.status), VCPU: int(res.vcpu)}
	r.Exit = exitFrom(&res.exit, false)
	if perr := v.pending.take(); perr != nil {
		return r, perr
	}
	if ctx.Err() != nil && r.Reason == ExitKicked {
		return r, ctx.Err()
	}
	return r, nil
}

// Stop ends a VM.Run in progress (its result is KICKED). From any goroutine.
func (v *VM) Stop() error {
	vm, err := v.handle("Stop")
	if err != nil {
		return err
	}
	return call(func() C.int { return C.vmm_vm_stop(vm) })
}
