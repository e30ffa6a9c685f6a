// SPDX-License-Identifier: MIT

package libvmm

/*
#include <stdlib.h>
#include <libvmm/vmm.h>

int gv_sandbox_register(vmm_sandbox *sb, const char *name, uintptr_t h);
int gv_sandbox_create(vmm_sandbox **out, unsigned int flags, uint64_t memory, uint64_t stack,
                      uint64_t budget_ns, uint64_t max_output, uintptr_t policy);
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/cgo"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Outcome is how a sandbox run ended.
type Outcome int

// Sandbox outcomes.
const (
	Exited      Outcome = C.VMM_SANDBOX_EXITED       // exit or exit_group; Result.ExitStatus
	Fault       Outcome = C.VMM_SANDBOX_FAULT        // a CPU exception; Result.Fault
	Timeout     Outcome = C.VMM_SANDBOX_TIMEOUT      // the time limit ran out
	OutputLimit Outcome = C.VMM_SANDBOX_OUTPUT_LIMIT // more output than MaxOutput
	Killed      Outcome = C.VMM_SANDBOX_KILLED       // the policy ended the run
	Stopped     Outcome = C.VMM_SANDBOX_STOPPED      // Stop, or the context was done
	Crashed     Outcome = C.VMM_SANDBOX_CRASHED      // the guest stopped another way
)

// PolicyAction is a system-call policy's answer.
type PolicyAction int

// Policy actions.
const (
	PolicyDefault PolicyAction = C.VMM_SANDBOX_DEFAULT // the sandbox's own policy answers
	PolicyHandled PolicyAction = C.VMM_SANDBOX_HANDLED // return Syscall.Ret to the program
	PolicyKill    PolicyAction = C.VMM_SANDBOX_KILL    // end the run (Killed)
)

// Syscall is a system call the program made (Linux x86-64 numbering).
type Syscall struct {
	Nr   uint64
	Args [6]uint64
	Ret  int64 // with PolicyHandled: the result (a value, or -errno)
}

// Policy sees every system call before the sandbox's default policy. It
// runs on the goroutine that called Run.
type Policy func(call *Syscall) PolicyAction

// HostFunc is a host function the program calls by name (sandbox_guest.h):
// it gets the program's input and returns its output (at most the program's
// buffer), or an error: a syscall.Errno reaches the program as -errno, any
// other error ends the run and is returned by Run.
type HostFunc func(in []byte) ([]byte, error)

// SandboxOptions are NewSandbox's options; zero fields take the defaults.
type SandboxOptions struct {
	MemorySize uint64        // guest RAM, a multiple of 2 MiB (default 64 MiB)
	StackSize  uint64        // default 2 MiB
	TimeLimit  time.Duration // per run; 0: none
	MaxOutput  uint64        // stdout+stderr bytes per run (default 1 MiB)
	OneShot    bool          // no snapshot after Load: Reset is refused
	Policy     Policy
}

// Result is what a sandbox run did.
type Result struct {
	Outcome    Outcome
	ExitStatus int
	Stdout     []byte
	Stderr     []byte
	Syscalls   uint64 // system calls made
	Denied     uint64 // of those, refused by the default policy
	// Fault: the exception (14 #PF, ...), its error code and address.
	FaultVector, FaultErrorCode uint32
	FaultAddr, FaultRIP         uint64
}

// sandboxState is what the callbacks reach through their handles.
type sandboxState struct {
	sb      *C.vmm_sandbox
	pol     Policy
	mu      sync.Mutex
	failure error // a callback's panic or error, for Run to return
}

func (s *sandboxState) fail(err error) {
	s.mu.Lock()
	if s.failure == nil {
		s.failure = err
	}
	s.mu.Unlock()
}

func (s *sandboxState) take() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.failure
	s.failure = nil
	return err
}

// policy runs the Go policy; a panic ends the run (KILL) and reaches Run.
func (s *sandboxState) policy(c *C.vmm_sandbox_syscall) (action int) {
	defer func() {
		if r := recover(); r != nil {
			s.fail(fmt.Errorf("libvmm: sandbox policy panicked: %v", r))
			action = int(C.VMM_SANDBOX_KILL)
		}
	}()
	call := Syscall{Nr: uint64(c.nr), Ret: int64(c.ret)}
	for i := range call.Args {
		call.Args[i] = uint64(c.args[i])
	}
	a := s.pol(&call)
	c.ret = C.int64_t(call.Ret)
	return int(a)
}

type hostFunc struct {
	s    *sandboxState
	name string
	fn   HostFunc
}

// call runs the Go function; its output goes into out. A panic or a
// non-errno error stops the run and reaches Run.
func (f *hostFunc) call(in, out []byte) (ret int64) {
	defer func() {
		if r := recover(); r != nil {
			f.s.fail(fmt.Errorf("libvmm: host function %q panicked: %v", f.name, r))
			C.vmm_sandbox_stop(f.s.sb)
			ret = -int64(syscall.EIO)
		}
	}()
	b, err := f.fn(in)
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno):
		return -int64(errno)
	case err != nil:
		f.s.fail(fmt.Errorf("libvmm: host function %q: %w", f.name, err))
		C.vmm_sandbox_stop(f.s.sb)
		return -int64(syscall.EIO)
	case len(b) > len(out):
		return -int64(syscall.E2BIG)
	}
	return int64(copy(out, b))
}

// Sandbox runs a static Linux x86-64 program in a VM of its own and answers
// its system calls. One goroutine at a time; Stop from any.
type Sandbox struct {
	mu      sync.Mutex
	state   *sandboxState
	handles []cgo.Handle
}

// NewSandbox creates a sandbox (opts nil: the defaults).
func NewSandbox(opts *SandboxOptions) (*Sandbox, error) {
	if err := checkVersion(); err != nil {
		return nil, err
	}
	var o SandboxOptions
	if opts != nil {
		o = *opts
	}
	s := &Sandbox{state: &sandboxState{pol: o.Policy}}
	var ph cgo.Handle
	if o.Policy != nil {
		ph = cgo.NewHandle(s.state)
		s.handles = append(s.handles, ph)
	}
	var flags C.uint
	if o.OneShot {
		flags = C.VMM_SANDBOX_ONESHOT
	}
	var sb *C.vmm_sandbox
	if err := call(func() C.int {
		return C.gv_sandbox_create(&sb, flags, C.uint64_t(o.MemorySize), C.uint64_t(o.StackSize),
			C.uint64_t(o.TimeLimit.Nanoseconds()), C.uint64_t(o.MaxOutput), C.uintptr_t(ph))
	}); err != nil {
		s.free()
		return nil, err
	}
	s.state.sb = sb
	runtime.SetFinalizer(s, (*Sandbox).Close)
	return s, nil
}

func (s *Sandbox) free() {
	for _, h := range s.handles {
		h.Delete()
	}
	s.handles = nil
}

// Close destroys the sandbox; safe to call twice.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.sb != nil {
		C.vmm_sandbox_destroy(s.state.sb)
		s.state.sb = nil
		s.free()
		runtime.SetFinalizer(s, nil)
	}
	return nil
}

func (s *Sandbox) handle(what string) (*C.vmm_sandbox, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.sb == nil {
		return nil, errClosed(what)
	}
	return s.state.sb, nil
}

// cStrings is a NULL-terminated C array of strings (nil for a nil slice);
// free it with the function returned.
func cStrings(list []string) (**C.char, func()) {
	if list == nil {
		return nil, func() {}
	}
	arr := (*[1 << 20]*C.char)(C.calloc(C.size_t(len(list)+1), C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	for i, v := range list {
		arr[i] = C.CString(v)
	}
	return &arr[0], func() {
		for i := range list {
			C.free(unsafe.Pointer(arr[i]))
		}
		C.free(unsafe.Pointer(&arr[0]))
	}
}

// Load loads the static program at path with its arguments (nil: the path
// alone) and environment (nil: none), and takes the snapshot Reset returns
// to. Register host functions before.
func (s *Sandbox) Load(path string, argv, env []string) error {
	sb, err := s.handle("Load")
	if err != nil {
		return err
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	ca, fa := cStrings(argv)
	defer fa()
	ce, fe := cStrings(env)
	defer fe()
	return call(func() C.int { return C.vmm_sandbox_load(sb, cp, ca, ce) })
}

// Register makes fn callable by the program as name (before Load).
func (s *Sandbox) Register(name string, fn HostFunc) error {
	sb, err := s.handle("Register")
	if err != nil {
		return err
	}
	h := cgo.NewHandle(&hostFunc{s: s.state, name: name, fn: fn})
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	if err := call(func() C.int { return C.gv_sandbox_register(sb, cn, C.uintptr_t(h)) }); err != nil {
		h.Delete()
		return err
	}
	s.mu.Lock()
	s.handles = append(s.handles, h)
	s.mu.Unlock()
	return nil
}

// Run runs the loaded program with stdin as its standard input until it
// exits or is ended (fault, time limit, output limit, policy, Stop, ctx).
// A host function's or policy's failure is returned as the error, with the
// result.
func (s *Sandbox) Run(ctx context.Context, stdin []byte) (*Result, error) {
	sb, err := s.handle("Run")
	if err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	var in unsafe.Pointer
	if len(stdin) > 0 {
		in = C.CBytes(stdin)
		defer C.free(in)
	}
	if err := call(func() C.int { return C.vmm_sandbox_set_stdin(sb, in, C.size_t(len(stdin))) }); err != nil {
		return nil, err
	}
	end := whileRunning(ctx, func() { C.vmm_sandbox_stop(sb) })
	var r C.vmm_sandbox_result
	err = call(func() C.int { return C.vmm_sandbox_run(sb, &r) })
	end()
	if err != nil {
		s.state.take()
		return nil, err
	}
	res := &Result{
		Outcome:        Outcome(r.outcome),
		ExitStatus:     int(r.status),
		Syscalls:       uint64(r.syscalls),
		Denied:         uint64(r.denied),
		FaultVector:    uint32(r.fault.vector),
		FaultErrorCode: uint32(r.fault.error_code),
		FaultAddr:      uint64(r.fault.address),
		FaultRIP:       uint64(r.fault.rip),
	}
	for fd, dst := range map[int]*[]byte{1: &res.Stdout, 2: &res.Stderr} {
		var n C.size_t
		p := C.vmm_sandbox_output(sb, C.int(fd), &n)
		*dst = C.GoBytes(unsafe.Pointer(p), C.int(n))
	}
	if ferr := s.state.take(); ferr != nil {
		return res, ferr
	}
	if res.Outcome == Stopped && ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, nil
}

// Reset returns the sandbox to the state right after Load.
func (s *Sandbox) Reset() error {
	sb, err := s.handle("Reset")
	if err != nil {
		return err
	}
	return call(func() C.int { return C.vmm_sandbox_reset(sb) })
}

// Stop ends a Run in progress (Stopped). From any goroutine.
func (s *Sandbox) Stop() error {
	sb, err := s.handle("Stop")
	if err != nil {
		return err
	}
	return call(func() C.int { return C.vmm_sandbox_stop(sb) })
}

// LoadBuffer is Load from an ELF image in memory; argv may not be empty.
func (s *Sandbox) LoadBuffer(elf []byte, argv, env []string) error {
	sb, err := s.handle("LoadBuffer")
	if err != nil {
		return err
	}
	if len(elf) == 0 {
		return &Error{Code: int(C.VMM_EINVAL), Message: "LoadBuffer: empty image"}
	}
	ca, fa := cStrings(argv)
	defer fa()
	ce, fe := cStrings(env)
	defer fe()
	return call(func() C.int {
		return C.vmm_sandbox_load_buffer(sb, unsafe.Pointer(&elf[0]), C.size_t(len(elf)), ca, ce)
	})
}

// ReadMemory copies the program's memory at a guest-virtual address.
func (s *Sandbox) ReadMemory(gva uint64, buf []byte) error {
	sb, err := s.handle("ReadMemory")
	if err != nil || len(buf) == 0 {
		return err
	}
	return call(func() C.int {
		return C.vmm_sandbox_read(sb, C.uint64_t(gva), unsafe.Pointer(&buf[0]), C.size_t(len(buf)))
	})
}

// WriteMemory copies data into the program's memory.
func (s *Sandbox) WriteMemory(gva uint64, data []byte) error {
	sb, err := s.handle("WriteMemory")
	if err != nil || len(data) == 0 {
		return err
	}
	return call(func() C.int {
		return C.vmm_sandbox_write(sb, C.uint64_t(gva), unsafe.Pointer(&data[0]),
			C.size_t(len(data)))
	})
}
