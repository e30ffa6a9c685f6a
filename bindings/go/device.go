// SPDX-License-Identifier: MIT

package libvmm

/*
#include <stdlib.h>
#include <libvmm/vmm.h>
#include <libvmm/sys/device.h>

int gv_serial_set_output(vmm_device *d, uintptr_t h);
int gv_console_set_output(vmm_device *d, uintptr_t h);
*/
import "C"

import (
	"runtime/cgo"
	"sync"
)

// byteSink carries a device's output to a Go function; a panic in it is
// recovered (and dropped: output callbacks have no caller to report to).
type byteSink struct {
	fn func([]byte)
}

func (s *byteSink) deliver(b []byte) {
	defer func() { _ = recover() }()
	s.fn(b)
}

// Device is a device attached to a VM; it lives as long as its VM.
type Device struct {
	mu   sync.Mutex
	dev  *C.vmm_device
	vm   *VM
	sink cgo.Handle // the output function's, 0: none
}

func (d *Device) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dev = nil
	if d.sink != 0 {
		d.sink.Delete()
		d.sink = 0
	}
}

func (d *Device) handle(what string) (*C.vmm_device, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dev == nil {
		return nil, errClosed(what)
	}
	return d.dev, nil
}

// ID is the device's id ("serial0" unless its config named one).
func (d *Device) ID() string {
	p, err := d.handle("ID")
	if err != nil {
		return ""
	}
	return C.GoString(C.vmm_device_id(p))
}

// Reset puts the device back in its power-on state.
func (d *Device) Reset() error {
	p, err := d.handle("Reset")
	if err != nil {
		return err
	}
	return call(func() C.int { return C.vmm_device_reset(p) })
}

// Save returns the device's state (ErrNotImpl if its type cannot save).
func (d *Device) Save() ([]byte, error) {
	p, err := d.handle("Save")
	if err != nil {
		return nil, err
	}
	var n C.size_t
	if err := call(func() C.int { return C.vmm_device_save(p, nil, 0, &n) }); err != nil {
		return nil, err
	}
	buf := C.malloc(n + 1)
	defer C.free(buf)
	if err := call(func() C.int { return C.vmm_device_save(p, buf, n, &n) }); err != nil {
		return nil, err
	}
	return C.GoBytes(buf, C.int(n)), nil
}

// Load restores a state Save returned (checked by the device's type).
func (d *Device) Load(state []byte) error {
	p, err := d.handle("Load")
	if err != nil {
		return err
	}
	buf := C.CBytes(state)
	defer C.free(buf)
	return call(func() C.int { return C.vmm_device_load(p, buf, C.size_t(len(state))) })
}

// SetOutput sends what a serial or virtio-console device writes to fn (nil:
// drop it). fn runs on the thread that made the guest write (a vCPU's, or
// the device's I/O thread) and must not call into the VM.
func (d *Device) SetOutput(fn func([]byte)) error {
	p, err := d.handle("SetOutput")
	if err != nil {
		return err
	}
	typ := C.GoString(C.vmm_device_type(p).name)
	return d.setSink(fn, func(h C.uintptr_t) C.int {
		if typ == "virtio-console" {
			return C.gv_console_set_output(p, h)
		}
		return C.gv_serial_set_output(p, h)
	})
}

// setSink installs fn (nil: none) through install, which hands the C side
// its handle; the handle it replaces is released.
func (d *Device) setSink(fn func([]byte), install func(h C.uintptr_t) C.int) error {
	var h cgo.Handle
	if fn != nil {
		h = cgo.NewHandle(&byteSink{fn: fn})
	}
	if err := call(func() C.int { return install(C.uintptr_t(h)) }); err != nil {
		if h != 0 {
			h.Delete()
		}
		return err
	}
	d.mu.Lock()
	old := d.sink
	d.sink = h
	d.mu.Unlock()
	if old != 0 {
		old.Delete()
	}
	return nil
}

// Input gives a serial device bytes as if typed on its line.
func (d *Device) Input(data []byte) error {
	p, err := d.handle("Input")
	if err != nil || len(data) == 0 {
		return err
	}
	buf := C.CBytes(data)
	defer C.free(buf)
	return call(func() C.int { return C.vmm_serial_input(p, buf, C.size_t(len(data))) })
}
