// SPDX-License-Identifier: MIT

package libvmm

/*
#include <stdlib.h>
#include <libvmm/vmm.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// Snapshot is a VM's whole state (vCPUs, interrupt controllers, memory,
// devices) held in memory. It holds no reference to its VM. Free it when
// done (a finalizer does otherwise).
type Snapshot struct {
	mu sync.Mutex
	s  *C.vmm_snapshot
}

func wrapSnapshot(s *C.vmm_snapshot) *Snapshot {
	snap := &Snapshot{s: s}
	runtime.SetFinalizer(snap, (*Snapshot).Free)
	return snap
}

// Snapshot takes the VM's state; no vCPU may be running (pause VM.Run first
// or take it between runs).
func (v *VM) Snapshot() (*Snapshot, error) {
	vm, err := v.handle("Snapshot")
	if err != nil {
		return nil, err
	}
	var s *C.vmm_snapshot
	if err := call(func() C.int { return C.vmm_snapshot_take(vm, &s) }); err != nil {
		return nil, err
	}
	return wrapSnapshot(s), nil
}

// Restore puts the VM back into the snapshot's state (the snapshot may come
// from another VM of the same shape, or from a file).
func (v *VM) Restore(s *Snapshot) error {
	vm, err := v.handle("Restore")
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return errClosed("Restore: snapshot")
	}
	return call(func() C.int { return C.vmm_snapshot_restore(vm, s.s) })
}

// Free releases the snapshot; safe to call twice.
func (s *Snapshot) Free() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s != nil {
		C.vmm_snapshot_free(s.s)
		s.s = nil
		runtime.SetFinalizer(s, nil)
	}
}

// MemorySize is the bytes of guest memory the snapshot holds.
func (s *Snapshot) MemorySize() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return 0
	}
	return uint64(C.vmm_snapshot_memory_size(s.s))
}

// Save writes the snapshot to a file (docs/snapshot-format.md), atomically.
func (s *Snapshot) Save(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.s == nil {
		return errClosed("Save: snapshot")
	}
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	return call(func() C.int { return C.vmm_snapshot_save(s.s, cp) })
}

// LoadSnapshot reads a snapshot file; a damaged or foreign file is refused
// with ErrInvalid (or ErrVersion) saying why.
func LoadSnapshot(path string) (*Snapshot, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var s *C.vmm_snapshot
	if err := call(func() C.int { return C.vmm_snapshot_load(cp, &s) }); err != nil {
		return nil, err
	}
	return wrapSnapshot(s), nil
}
