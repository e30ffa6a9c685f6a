// SPDX-License-Identifier: MIT

package libvmm

/*
#include <libvmm/vmm.h>

static int gv_x86_setup(vmm_vcpu *v, int mode, unsigned int cpl, uint64_t entry, uint64_t stack,
                        int report)
{
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.mode = (vmm_x86_mode)mode;
    o.cpl = cpl;
    o.entry = entry;
    o.stack = stack;
    o.exceptions = report ? VMM_X86_EXCEPTIONS_REPORT : VMM_X86_EXCEPTIONS_NONE;
    return vmm_x86_setup(v, &o);
}
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// ExitReason says why a vCPU's run returned (vmm_exit_reason).
type ExitReason int

// Exit reasons.
const (
	ExitNone        ExitReason = C.VMM_EXIT_NONE
	ExitHLT         ExitReason = C.VMM_EXIT_HLT
	ExitIO          ExitReason = C.VMM_EXIT_IO
	ExitMMIO        ExitReason = C.VMM_EXIT_MMIO
	ExitShutdown    ExitReason = C.VMM_EXIT_SHUTDOWN
	ExitDebug       ExitReason = C.VMM_EXIT_DEBUG
	ExitKicked      ExitReason = C.VMM_EXIT_KICKED
	ExitTimeout     ExitReason = C.VMM_EXIT_TIMEOUT
	ExitFault       ExitReason = C.VMM_EXIT_FAULT
	ExitInternal    ExitReason = C.VMM_EXIT_INTERNAL_ERROR
	ExitStatus      ExitReason = C.VMM_EXIT_STATUS
	ExitFailEntry   ExitReason = C.VMM_EXIT_FAIL_ENTRY
	ExitSystemEvent ExitReason = C.VMM_EXIT_SYSTEM_EVENT
)

// String is the library's name for the reason ("IO", "STATUS", ...).
func (r ExitReason) String() string {
	return C.GoString(C.vmm_exit_reason_name(C.vmm_exit_reason(r)))
}

// X86Mode is the CPU mode X86Setup puts a vCPU in.
type X86Mode int

// x86 modes.
const (
	ModeReal      X86Mode = C.VMM_X86_REAL
	ModeProtected X86Mode = C.VMM_X86_PROTECTED
	ModeLong      X86Mode = C.VMM_X86_LONG
)

// Exit is what ended a vCPU's run. For an unclaimed read (ExitIO or
// ExitMMIO with IsWrite false) the caller answers by writing the value into
// Data (or with SetData) before the next Run of the vCPU; Data aliases the
// vCPU's run area and is valid until then.
type Exit struct {
	Reason  ExitReason
	Port    uint16 // ExitIO
	Addr    uint64 // ExitMMIO: the guest-physical address
	Size    int    // ExitIO, ExitMMIO: access size in bytes
	Count   int    // ExitIO: > 1 for REP INS/OUTS
	IsWrite bool
	Data    []byte // ExitIO (Count*Size bytes), ExitMMIO (Size bytes)
	Status  int    // ExitStatus
	// ExitFault: vector, error code, faulting address and instruction address.
	Vector, ErrorCode uint32
	FaultAddr, RIP    uint64
}

// SetData answers an unclaimed read: b must be exactly len(Data) bytes.
func (x *Exit) SetData(b []byte) error {
	if (x.Reason != ExitIO && x.Reason != ExitMMIO) || x.IsWrite {
		return &Error{Code: int(C.VMM_ESTATE), Message: "SetData: not an unclaimed read"}
	}
	if len(b) != len(x.Data) {
		return &Error{Code: int(C.VMM_EINVAL), Message: fmt.Sprintf(
			"SetData: %d bytes for a %d-byte access", len(b), len(x.Data))}
	}
	copy(x.Data, b)
	return nil
}

func exitFrom(e *C.vmm_exit, withData bool) Exit {
	x := Exit{Reason: ExitReason(e.reason)}
	switch x.Reason {
	case ExitIO:
		x.Port = uint16(e.io.port)
		x.Size = int(e.io.size)
		x.Count = int(e.io.count)
		x.IsWrite = e.io.is_write != 0
		if withData && e.io.data != nil {
			x.Data = unsafe.Slice((*byte)(unsafe.Pointer(e.io.data)), x.Size*x.Count)
		}
	case ExitMMIO:
		x.Addr = uint64(e.mmio.addr)
		x.Size = int(e.mmio.size)
		x.IsWrite = e.mmio.is_write != 0
		if withData && e.mmio.data != nil {
			x.Data = unsafe.Slice((*byte)(unsafe.Pointer(e.mmio.data)), x.Size)
		}
	case ExitStatus:
		x.Status = int(e.status.code)
	case ExitFault:
		x.Vector = uint32(e.fault.vector)
		x.ErrorCode = uint32(e.fault.error_code)
		x.FaultAddr = uint64(e.fault.address)
		x.RIP = uint64(e.fault.rip)
	case ExitInternal, ExitFailEntry:
		x.RIP = uint64(e.internal.rip)
	}
	return x
}

// Regs are a vCPU's general registers.
type Regs struct {
	RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP uint64
	R8, R9, R10, R11, R12, R13, R14, R15   uint64
	RIP, RFlags                            uint64
}

// VCPU is a virtual CPU of a VM; it lives as long as its VM.
type VCPU struct {
	vm     *VM
	vcpu   *C.vmm_vcpu
	index  int
	runMu  sync.Mutex    // one Run at a time
	budget time.Duration // the time budget last given to the library (runMu)
}

// VCPU is vCPU index of the VM, created at the first call (a spec-built
// VM has its vCPUs already).
func (v *VM) VCPU(index int) (*VCPU, error) {
	vm, err := v.handle("VCPU")
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	c := v.vcpus[index]
	v.mu.Unlock()
	if c != nil {
		return c, nil
	}
	if index < 0 {
		return nil, &Error{Code: int(C.VMM_ERANGE), Message: "VCPU: negative index"}
	}
	p := C.vmm_vm_vcpu(vm, C.uint(index)) // made by a spec, say
	if p == nil {
		if err := call(func() C.int { return C.vmm_vcpu_create(&p, vm, C.uint(index)) }); err != nil {
			return nil, err
		}
	}
	c = &VCPU{vm: v, vcpu: p, index: index}
	v.mu.Lock()
	v.vcpus[index] = c
	v.mu.Unlock()
	return c, nil
}

// Index is the vCPU's index in its VM.
func (c *VCPU) Index() int { return c.index }

func (c *VCPU) handle(what string) (*C.vmm_vcpu, error) {
	c.vm.mu.Lock()
	defer c.vm.mu.Unlock()
	if c.vcpu == nil {
		return nil, errClosed(what)
	}
	return c.vcpu, nil
}

// X86Setup puts the vCPU in mode at privilege level cpl (0 or 3), ready to
// run at entry with the stack at stack; the library writes its GDT and page
// tables at its default tables address. report: guest exceptions end the
// run as ExitFault.
func (c *VCPU) X86Setup(mode X86Mode, cpl int, entry, stack uint64, report bool) error {
	p, err := c.handle("X86Setup")
	if err != nil {
		return err
	}
	rep := C.int(0)
	if report {
		rep = 1
	}
	return call(func() C.int {
		return C.gv_x86_setup(p, C.int(mode), C.uint(cpl), C.uint64_t(entry), C.uint64_t(stack),
			rep)
	})
}

// Regs reads the general registers (not while the vCPU runs).
func (c *VCPU) Regs() (*Regs, error) {
	p, err := c.handle("Regs")
	if err != nil {
		return nil, err
	}
	var r C.vmm_regs
	if err := call(func() C.int { return C.vmm_vcpu_get_regs(p, &r) }); err != nil {
		return nil, err
	}
	return (*Regs)(unsafe.Pointer(&r)), nil
}

// SetRegs writes the general registers.
func (c *VCPU) SetRegs(r *Regs) error {
	p, err := c.handle("SetRegs")
	if err != nil {
		return err
	}
	return call(func() C.int { return C.vmm_vcpu_set_regs(p, (*C.vmm_regs)(unsafe.Pointer(r))) })
}

// Run runs the vCPU on the calling goroutine's thread (locked to it for the
// run) until an exit the library does not handle itself: an unclaimed I/O
// or MMIO access, a device's status, HLT, a kick, the time budget, a fault.
func (c *VCPU) Run() (*Exit, error) {
	return c.RunContext(context.Background(), 0)
}

// RunContext is Run that also ends (ExitKicked, with ctx.Err()) when ctx is
// done, and (ExitTimeout) after budget (0: none).
func (c *VCPU) RunContext(ctx context.Context, budget time.Duration) (*Exit, error) {
	p, err := c.handle("Run")
	if err != nil {
		return nil, err
	}
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if budget != c.budget { // not a call per exit on the hot path
		if err := call(func() C.int {
			return C.vmm_vcpu_set_time_budget(p, C.uint64_t(budget.Nanoseconds()))
		}); err != nil {
			return nil, err
		}
		c.budget = budget
	}
	end := whileRunning(ctx, func() { C.vmm_vcpu_kick(p) })
	runtime.LockOSThread()
	var e C.vmm_exit
	rc := C.vmm_vcpu_run(p, &e)
	var rerr error
	if rc < 0 {
		rerr = lastError(rc)
	}
	runtime.UnlockOSThread()
	end()
	if rerr != nil {
		return nil, rerr
	}
	x := exitFrom(&e, true)
	if perr := c.vm.pending.take(); perr != nil {
		return &x, perr
	}
	if x.Reason == ExitKicked && ctx.Err() != nil {
		return &x, ctx.Err()
	}
	return &x, nil
}

// Kick makes the vCPU's current or next Run return ExitKicked. From any
// goroutine.
func (c *VCPU) Kick() error {
	p, err := c.handle("Kick")
	if err != nil {
		return err
	}
	return call(func() C.int { return C.vmm_vcpu_kick(p) })
}
