// SPDX-License-Identifier: MIT

package libvmm

/*
#include <stdlib.h>
#include <libvmm/vmm.h>
#include <libvmm/sys/device.h>

vmm_device_ops *gv_dev_ops(const char *name, int with_save);
void gv_device_error(vmm_device *dev, const char *msg);
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// DeviceModel is a device written in Go: the guest's reads and writes of
// the ranges it claimed. An error makes a read return all ones and drops a
// write; a panic stops the run, and the call that ran the guest (VCPU.Run,
// VM.Run) returns it as its error. The methods run on the thread of the
// vCPU that made the access, one at a time per device.
type DeviceModel interface {
	Read(rangeIndex int, offset uint64, data []byte) error
	Write(rangeIndex int, offset uint64, data []byte) error
}

// DeviceResetter is a DeviceModel with a power-on state to return to.
type DeviceResetter interface{ Reset() }

// DeviceSaver is a DeviceModel whose state snapshots can hold.
type DeviceSaver interface {
	Save() ([]byte, error)
	Load(state []byte) error
}

// DeviceCloser is a DeviceModel with something to release when its VM goes.
type DeviceCloser interface{ Close() }

// DeviceFactory makes a device of a Go type from its JSON configuration
// (nil for none). It claims the device's ranges through ctx.
type DeviceFactory func(ctx *DeviceContext, config []byte) (DeviceModel, error)

// Space is the address space of a claimed range.
type Space int

// Address spaces.
const (
	SpacePIO  Space = C.VMM_SPACE_PIO  // x86 I/O ports
	SpaceMMIO Space = C.VMM_SPACE_MMIO // guest-physical addresses outside RAM
)

// DeviceContext is what a Go device may ask of its VM.
type DeviceContext struct {
	dev     *C.vmm_device
	pending *pending
}

// ID is the device's id.
func (c *DeviceContext) ID() string { return C.GoString(C.vmm_device_id(c.dev)) }

// Checking is true while a spec is only checked: open no host resource.
func (c *DeviceContext) Checking() bool { return C.vmm_device_checking(c.dev) != 0 }

// Claim claims [base, base+length) of space (in the factory only).
func (c *DeviceContext) Claim(space Space, base, length uint64) error {
	return call(func() C.int {
		return C.vmm_device_claim(c.dev, C.vmm_space(space), C.uint64_t(base), C.uint64_t(length))
	})
}

// SetIRQ sets interrupt line's level.
func (c *DeviceContext) SetIRQ(line int, level bool) error {
	l := C.int(0)
	if level {
		l = 1
	}
	return call(func() C.int { return C.vmm_device_set_irq(c.dev, C.uint(line), l) })
}

// ReadGuest copies guest RAM at gpa into buf (RAM only).
func (c *DeviceContext) ReadGuest(gpa uint64, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	return call(func() C.int {
		return C.vmm_device_mem_read(c.dev, C.uint64_t(gpa), unsafe.Pointer(&buf[0]), C.size_t(len(buf)))
	})
}

// WriteGuest copies data into guest RAM at gpa.
func (c *DeviceContext) WriteGuest(gpa uint64, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	return call(func() C.int {
		return C.vmm_device_mem_write(c.dev, C.uint64_t(gpa), unsafe.Pointer(&data[0]),
			C.size_t(len(data)))
	})
}

// Stop ends the current run with status (ExitStatus).
func (c *DeviceContext) Stop(status int) { C.vmm_device_stop(c.dev, C.int(status)) }

// pending holds a Go callback's failure until the call that ran the guest
// returns it.
type pending struct {
	mu  sync.Mutex
	err error
}

func (p *pending) set(err error) {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

func (p *pending) take() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	err := p.err
	p.err = nil
	return err
}

var (
	typesMu   sync.Mutex
	goTypes   = map[string]DeviceFactory{}
	attachMu  sync.Mutex // held while devices are created for a VM
	attaching *pending   // that VM's, for the devices created
)

// withAttaching runs f (which creates devices) with p as their VM's.
func withAttaching(p *pending, f func() error) error {
	attachMu.Lock()
	defer attachMu.Unlock()
	attaching = p
	defer func() { attaching = nil }()
	return f()
}

// RegisterDevice makes a Go device type attachable by name, like a
// built-in (VM.Attach, specs). Types stay registered until
// UnregisterDevice; a name cannot be registered twice (ErrExists).
func RegisterDevice(name string, factory DeviceFactory) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	ops := C.gv_dev_ops(cn, 1)
	if ops == nil {
		return &Error{Code: int(C.VMM_ENOMEM), Message: "RegisterDevice: out of memory"}
	}
	typesMu.Lock()
	defer typesMu.Unlock()
	if err := call(func() C.int { return C.vmm_device_register(ops) }); err != nil {
		// The table is not registered: free it and its name.
		C.free(unsafe.Pointer(ops.name))
		C.free(unsafe.Pointer(ops))
		return err
	}
	goTypes[name] = factory
	return nil
}

// UnregisterDevice removes a type; devices already made keep working.
func UnregisterDevice(name string) error {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	typesMu.Lock()
	defer typesMu.Unlock()
	if err := call(func() C.int { return C.vmm_device_unregister(cn) }); err != nil {
		return err
	}
	delete(goTypes, name)
	return nil
}

// goDevice is one device of a Go type.
type goDevice struct {
	ctx   DeviceContext
	model DeviceModel
}

func panicError(what string, r any) error {
	return fmt.Errorf("libvmm: %s panicked: %v", what, r)
}

func devCreate(dev *C.vmm_device, config *C.char, state *C.uintptr_t) (rc int) {
	name := C.GoString(C.vmm_device_type(dev).name)
	typesMu.Lock()
	factory := goTypes[name]
	typesMu.Unlock()
	if factory == nil {
		return int(C.VMM_ENOENT)
	}
	d := &goDevice{ctx: DeviceContext{dev: dev, pending: attaching}}
	var cfg []byte
	if config != nil {
		cfg = []byte(C.GoString(config))
	}
	defer func() {
		if r := recover(); r != nil {
			msg := C.CString(fmt.Sprintf("device type %q: create panicked: %v", name, r))
			C.gv_device_error(dev, msg)
			C.free(unsafe.Pointer(msg))
			rc = int(C.VMM_EIO)
		}
	}()
	model, err := factory(&d.ctx, cfg)
	if err != nil {
		msg := C.CString(err.Error())
		C.gv_device_error(dev, msg)
		C.free(unsafe.Pointer(msg))
		if e, ok := err.(*Error); ok && e.Code < 0 {
			return e.Code
		}
		return int(C.VMM_ECONFIG)
	}
	d.model = model
	*state = C.uintptr_t(cgo.NewHandle(d))
	return 0
}

func (d *goDevice) access(rng int, off uint64, data []byte, write bool) (rc int) {
	defer func() {
		if r := recover(); r != nil {
			d.ctx.pending.set(panicError("device "+d.ctx.ID(), r))
			C.vmm_device_stop(d.ctx.dev, -1)
			rc = int(C.VMM_EIO)
		}
	}()
	var err error
	if write {
		err = d.model.Write(rng, off, data)
	} else {
		err = d.model.Read(rng, off, data)
	}
	if err != nil {
		return int(C.VMM_EIO)
	}
	return 0
}

func (d *goDevice) reset() {
	defer func() {
		if r := recover(); r != nil {
			d.ctx.pending.set(panicError("device "+d.ctx.ID()+" reset", r))
		}
	}()
	if m, ok := d.model.(DeviceResetter); ok {
		m.Reset()
	}
}

func (d *goDevice) save(buf unsafe.Pointer, cap C.size_t, n *C.size_t) (rc int) {
	defer func() {
		if r := recover(); r != nil {
			rc = int(C.VMM_EIO)
		}
	}()
	m, ok := d.model.(DeviceSaver)
	if !ok {
		return int(C.VMM_ENOSYS)
	}
	b, err := m.Save()
	if err != nil {
		return int(C.VMM_EIO)
	}
	*n = C.size_t(len(b))
	if buf == nil {
		return 0
	}
	if int(cap) < len(b) {
		return int(C.VMM_ERANGE)
	}
	copy(unsafe.Slice((*byte)(buf), int(cap)), b)
	return 0
}

func (d *goDevice) load(state []byte) (rc int) {
	defer func() {
		if r := recover(); r != nil {
			rc = int(C.VMM_EINVAL)
		}
	}()
	m, ok := d.model.(DeviceSaver)
	if !ok {
		return int(C.VMM_ENOSYS)
	}
	if err := m.Load(state); err != nil {
		msg := C.CString(err.Error())
		C.gv_device_error(d.ctx.dev, msg)
		C.free(unsafe.Pointer(msg))
		return int(C.VMM_EINVAL)
	}
	return 0
}

func (d *goDevice) destroy() {
	defer func() { _ = recover() }()
	if m, ok := d.model.(DeviceCloser); ok {
		m.Close()
	}
}
