// SPDX-License-Identifier: MIT

// Package libvmm is the Go binding of libvmm, a hypervisor as a library over
// Linux KVM: VMs with guest memory, vCPUs and devices (built-in ones, and
// device types written in Go), whole-VM snapshots, VMs built from JSON specs,
// a sandbox that runs static Linux programs, and a fuzz harness.
//
// It is written with cgo over the installed shared library (`#cgo pkg-config:
// libvmm`); PKG_CONFIG_PATH=build/pkgconfig builds it against a build tree.
//
// Errors are *Error values carrying the library's code and message; they
// match the sentinels ErrInvalid, ErrNotFound, ... with errors.Is.
//
// Threads: libvmm's objects may be used from any goroutine, one call at a
// time per object unless its documentation says otherwise. A vCPU is run by
// one goroutine at a time; VCPU.Run and VM.Run lock the calling goroutine to
// its OS thread for the run (libvmm kicks a vCPU by signalling the thread
// that runs it), so nothing else is needed from the caller. Kick, Stop and a
// context's cancellation may come from any goroutine.
package libvmm

/*
#cgo pkg-config: libvmm
#include <stdlib.h>
#include <libvmm/vmm.h>
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"syscall"
)

// APIMajor and APIMinor are the library version this binding was written
// for; NewVM and the other constructors refuse a library of another major
// version, or an older minor one.
const (
	APIMajor = 0
	APIMinor = 1
)

// Error is a failure of a libvmm call: Code is the negative VMM_E* value and
// Message the library's explanation (vmm_error_last()).
type Error struct {
	Code    int
	Message string
}

// Error is the library's message.
func (e *Error) Error() string { return e.Message }

// Errno is the C errno that corresponds to the code, or 0 where none does.
func (e *Error) Errno() syscall.Errno {
	if e.Code < 0 && e.Code > -1000 {
		return syscall.Errno(-e.Code)
	}
	return 0
}

// Is makes errors.Is(err, ErrInvalid) and the like true for an *Error of
// the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

func sentinel(code C.int) *Error { return &Error{Code: int(code)} }

// Sentinels for errors.Is, one per libvmm error code.
var (
	ErrPermission   = sentinel(C.VMM_EPERM)
	ErrNotFound     = sentinel(C.VMM_ENOENT)
	ErrIO           = sentinel(C.VMM_EIO)
	ErrAgain        = sentinel(C.VMM_EAGAIN)
	ErrNoMemory     = sentinel(C.VMM_ENOMEM)
	ErrFault        = sentinel(C.VMM_EFAULT)
	ErrBusy         = sentinel(C.VMM_EBUSY)
	ErrExists       = sentinel(C.VMM_EEXIST)
	ErrNoDevice     = sentinel(C.VMM_ENODEV)
	ErrInvalid      = sentinel(C.VMM_EINVAL)
	ErrRange        = sentinel(C.VMM_ERANGE)
	ErrNotImpl      = sentinel(C.VMM_ENOSYS)
	ErrOverflow     = sentinel(C.VMM_EOVERFLOW)
	ErrNotSupported = sentinel(C.VMM_ENOTSUP)
	ErrTimedOut     = sentinel(C.VMM_ETIMEDOUT)
	ErrVersion      = sentinel(C.VMM_EVERSION)
	ErrKVM          = sentinel(C.VMM_EKVM)
	ErrConfig       = sentinel(C.VMM_ECONFIG)
	ErrState        = sentinel(C.VMM_ESTATE)
)

// errClosed is what a call on a closed object returns.
func errClosed(what string) error {
	return &Error{Code: int(C.VMM_ESTATE), Message: what + ": closed"}
}

// call runs f, a libvmm call, and turns a negative result into an *Error with
// the library's message. The message is kept per thread, so the goroutine
// stays on its thread from the call to the read.
func call(f func() C.int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rc := f()
	if rc >= 0 {
		return nil
	}
	return lastError(rc)
}

// lastError is the thread's last libvmm error, for a call that returned rc.
func lastError(rc C.int) error {
	e := C.vmm_error_last()
	msg := C.GoString(e.message)
	if msg == "" {
		msg = C.GoString(C.vmm_strerror(rc))
	}
	return &Error{Code: int(rc), Message: msg}
}

// Version is the library's version string and numbers.
func Version() (s string, major, minor, patch int) {
	var ma, mi, pa C.int
	s = C.GoString(C.vmm_version(&ma, &mi, &pa))
	return s, int(ma), int(mi), int(pa)
}

// checkVersion refuses a library this binding was not written for.
func checkVersion() error {
	s, major, minor, _ := Version()
	if major != APIMajor || minor < APIMinor {
		return &Error{Code: int(C.VMM_EVERSION), Message: fmt.Sprintf(
			"libvmm %s is loaded; this binding needs %d.%d or a later %d.x", s, APIMajor,
			APIMinor, APIMajor)}
	}
	return nil
}

// Host describes what the host's KVM offers.
type Host struct {
	APIVersion       int
	Caps             uint32 // VMM_CAP_* bits
	MaxVCPUs         int
	RecommendedVCPUs int
	MaxMemslots      int
	Backend          string // "kvm_intel", "kvm_amd", "kvm_pvm" or "unknown"
	Paging           string // "EPT", "NPT", "shadow" or "unknown"
	PVM              bool
}

// HostInfo reports the host's KVM; an *Error (ErrNoDevice, ErrPermission)
// where /dev/kvm is absent or not usable. Safe from any goroutine.
func HostInfo() (*Host, error) {
	var i C.vmm_host_info
	if err := call(func() C.int { return C.vmm_host_info_get(&i) }); err != nil {
		return nil, err
	}
	return &Host{
		APIVersion:       int(i.api_version),
		Caps:             uint32(i.caps),
		MaxVCPUs:         int(i.max_vcpus),
		RecommendedVCPUs: int(i.recommended_vcpus),
		MaxMemslots:      int(i.max_memslots),
		Backend:          C.GoString(&i.backend[0]),
		Paging:           C.GoString(C.vmm_paging_name(i.paging)),
		PVM:              i.pvm != 0,
	}, nil
}

// whileRunning calls stop if ctx is done before the returned function is
// called; that function waits until the watcher is gone, so stop is never
// called after it returns (the object may be freed then).
func whileRunning(ctx context.Context, stop func()) (end func()) {
	if ctx.Done() == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			stop()
		case <-done:
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}
