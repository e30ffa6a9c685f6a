// SPDX-License-Identifier: MIT

package libvmm

/*
#include <libvmm/vmm.h>

static int gv_fuzz_create(vmm_fuzz **out, vmm_vm *vm, unsigned int vcpu, uint64_t input_addr,
                          uint64_t input_size, uint64_t cov_addr, uint64_t cov_size,
                          uint64_t budget_ns)
{
    vmm_fuzz_options o = VMM_FUZZ_OPTIONS_INIT;
    o.vcpu = vcpu;
    o.input_addr = input_addr;
    o.input_size = input_size;
    o.coverage_addr = cov_addr;
    o.coverage_size = cov_size;
    if (budget_ns)
        o.time_budget_ns = budget_ns;
    return vmm_fuzz_create(out, vm, &o);
}
*/
import "C"

import (
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// FuzzOutcome is how one fuzz run ended.
type FuzzOutcome int

// Fuzz outcomes.
const (
	FuzzOK      FuzzOutcome = C.VMM_FUZZ_OK      // status 0, or HLT
	FuzzStatus  FuzzOutcome = C.VMM_FUZZ_STATUS  // a nonzero status (FuzzResult.Status)
	FuzzCrash   FuzzOutcome = C.VMM_FUZZ_CRASH   // an exception (Vector, Address) or a triple fault
	FuzzTimeout FuzzOutcome = C.VMM_FUZZ_TIMEOUT // the time budget ran out
	FuzzExit    FuzzOutcome = C.VMM_FUZZ_EXIT    // any other exit (FuzzResult.Exit)
)

// FuzzOptions say where the harness writes inputs and reads coverage.
type FuzzOptions struct {
	VCPU         int           // the vCPU to run (default 0)
	InputAddr    uint64        // guest-physical, 8-byte aligned: a u64 length, then the bytes
	InputSize    uint64        // bytes of that region (>= 8)
	CoverageAddr uint64        // guest-physical address of the coverage counters
	CoverageSize uint64        // 0: none
	TimeBudget   time.Duration // per run; 0: the default (1 s)
}

// FuzzResult is one run's outcome.
type FuzzResult struct {
	Outcome   FuzzOutcome
	Status    int
	Vector    uint32
	ErrorCode uint32
	Address   uint64
	RIP       uint64
	Exit      Exit
}

// Fuzz is the harness over a prepared VM: NewFuzz snapshots it; each Run
// restores the snapshot, writes the input and runs the guest.
type Fuzz struct {
	mu sync.Mutex
	f  *C.vmm_fuzz
	vm *VM
}

// NewFuzz makes a harness of the VM as it is now (its snapshot).
func NewFuzz(vm *VM, opts FuzzOptions) (*Fuzz, error) {
	p, err := vm.handle("NewFuzz")
	if err != nil {
		return nil, err
	}
	var f *C.vmm_fuzz
	if err := call(func() C.int {
		return C.gv_fuzz_create(&f, p, C.uint(opts.VCPU), C.uint64_t(opts.InputAddr),
			C.uint64_t(opts.InputSize), C.uint64_t(opts.CoverageAddr), C.uint64_t(opts.CoverageSize),
			C.uint64_t(opts.TimeBudget.Nanoseconds()))
	}); err != nil {
		return nil, err
	}
	h := &Fuzz{f: f, vm: vm}
	runtime.SetFinalizer(h, (*Fuzz).Close)
	return h, nil
}

// Close frees the harness (before its VM is closed); safe to call twice.
func (f *Fuzz) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f != nil {
		C.vmm_fuzz_destroy(f.f)
		f.f = nil
		runtime.SetFinalizer(f, nil)
	}
	return nil
}

// Run runs one input (at most InputSize-8 bytes: else ErrRange) on the
// calling goroutine's thread.
func (f *Fuzz) Run(data []byte) (*FuzzResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return nil, errClosed("Fuzz.Run")
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	var r C.vmm_fuzz_result
	if err := call(func() C.int { return C.vmm_fuzz_run(f.f, p, C.size_t(len(data)), &r) }); err != nil {
		return nil, err
	}
	return &FuzzResult{
		Outcome:   FuzzOutcome(r.outcome),
		Status:    int(r.status),
		Vector:    uint32(r.vector),
		ErrorCode: uint32(r.error_code),
		Address:   uint64(r.address),
		RIP:       uint64(r.rip),
		Exit:      exitFrom(&r.exit, false),
	}, nil
}

// Coverage is the guest's coverage counters of the last run, as a view of
// guest memory (no copy): valid until the next Run or Close.
func (f *Fuzz) Coverage() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return nil
	}
	var n C.size_t
	p := C.vmm_fuzz_coverage(f.f, &n)
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// FuzzStats count a harness's runs.
type FuzzStats struct {
	Runs, Crashes, Timeouts uint64
	ResetNS, RunNS          uint64 // total time resetting, and writing inputs and running
}

// Stats are the harness's counters.
func (f *Fuzz) Stats() (*FuzzStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return nil, errClosed("Fuzz.Stats")
	}
	var s C.vmm_fuzz_stats
	if err := call(func() C.int { return C.vmm_fuzz_get_stats(f.f, &s) }); err != nil {
		return nil, err
	}
	return &FuzzStats{uint64(s.runs), uint64(s.crashes), uint64(s.timeouts),
		uint64(s.reset_ns), uint64(s.run_ns)}, nil
}

// Reset puts the VM back to the harness's snapshot now (Run does it anyway).
func (f *Fuzz) Reset() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return errClosed("Fuzz.Reset")
	}
	return call(func() C.int { return C.vmm_fuzz_reset(f.f) })
}
