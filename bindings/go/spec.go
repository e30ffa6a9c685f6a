// SPDX-License-Identifier: MIT

package libvmm

/*
#include <stdlib.h>
#include <libvmm/vmm.h>
*/
import "C"

import (
	"time"
	"unsafe"
)

// SpecInfo is what a VM built from a spec was given.
type SpecInfo struct {
	Name       string
	UUID       string
	VCPUs      int
	TimeBudget time.Duration // limits.time_budget_ms; 0: none
	Console    *Device       // the serial device marked "console", or nil
	Entry      uint64        // where the vCPUs start
}

func specVM(vm *C.vmm_vm, info *C.vmm_spec_info, p *pending) *VM {
	v := wrapVM(vm)
	v.pending = p
	s := &SpecInfo{
		Name:       C.GoString(&info.name[0]),
		UUID:       C.GoString(&info.uuid[0]),
		VCPUs:      int(info.vcpus),
		TimeBudget: time.Duration(info.time_budget_ns),
		Entry:      uint64(info.entry),
	}
	if info.console != nil {
		s.Console = &Device{dev: info.console, vm: v}
		v.devices = append(v.devices, s.Console)
	}
	v.Spec = s
	return v
}

// NewVMFromSpec builds a VM from a JSON spec (docs/spec.md); relative paths
// in it are taken from the current directory. A bad spec's *Error names the
// JSON path of the fault ("devices[2].path: ...").
func NewVMFromSpec(spec []byte) (*VM, error) {
	if err := checkVersion(); err != nil {
		return nil, err
	}
	var vm *C.vmm_vm
	var info C.vmm_spec_info
	cs := C.CBytes(spec)
	defer C.free(cs)
	p := &pending{}
	if err := withAttaching(p, func() error {
		return call(func() C.int {
			return C.vmm_vm_create_from_spec(&vm, (*C.char)(cs), C.size_t(len(spec)), nil, &info)
		})
	}); err != nil {
		return nil, err
	}
	return specVM(vm, &info, p), nil
}

// NewVMFromSpecFile builds a VM from a spec file; relative paths in it are
// taken from the file's directory.
func NewVMFromSpecFile(path string) (*VM, error) {
	if err := checkVersion(); err != nil {
		return nil, err
	}
	var vm *C.vmm_vm
	var info C.vmm_spec_info
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	p := &pending{}
	if err := withAttaching(p, func() error {
		return call(func() C.int { return C.vmm_vm_create_from_spec_file(&vm, cp, &info) })
	}); err != nil {
		return nil, err
	}
	return specVM(vm, &info, p), nil
}

// CheckSpec checks a spec without building it (no KVM needed).
func CheckSpec(spec []byte) error {
	cs := C.CBytes(spec)
	defer C.free(cs)
	return call(func() C.int { return C.vmm_spec_check((*C.char)(cs), C.size_t(len(spec)), nil) })
}
