// SPDX-License-Identifier: MIT

package libvmm

/*
#include <libvmm/vmm.h>

int gv_net_set_tx(vmm_device *d, uintptr_t h);
void gv_log_set(int on, int min_level);
*/
import "C"

import (
	"sync"
	"unsafe"
)

// SetTransmit sends the frames the guest transmits on a virtio-net device
// with the callback backend to fn (nil: drop them). fn runs on the vCPU
// thread that notified and must not call into the VM.
func (d *Device) SetTransmit(fn func(frame []byte)) error {
	p, err := d.handle("SetTransmit")
	if err != nil {
		return err
	}
	return d.setSink(fn, func(h C.uintptr_t) C.int { return C.gv_net_set_tx(p, h) })
}

// Receive hands a virtio-net device (callback backend) a frame for the
// guest: ErrAgain when the guest has posted no receive buffer.
func (d *Device) Receive(frame []byte) error {
	p, err := d.handle("Receive")
	if err != nil || len(frame) == 0 {
		return err
	}
	return call(func() C.int {
		return C.vmm_virtio_net_receive(p, unsafe.Pointer(&frame[0]), C.size_t(len(frame)))
	})
}

// ConsoleInput gives a virtio-console device (callback backend) input for
// the guest; how many bytes the guest's posted buffers took.
func (d *Device) ConsoleInput(data []byte) (int, error) {
	p, err := d.handle("ConsoleInput")
	if err != nil || len(data) == 0 {
		return 0, err
	}
	var n C.size_t
	err = call(func() C.int {
		return C.vmm_virtio_console_input(p, unsafe.Pointer(&data[0]), C.size_t(len(data)), &n)
	})
	return int(n), err
}

// Stats are a serial or virtio-net device's counters, by name (tx_bytes,
// tx_dropped, rx_bytes for serial; tx_frames, tx_dropped, tx_errors,
// rx_frames, rx_dropped for virtio-net).
func (d *Device) Stats() (map[string]uint64, error) {
	p, err := d.handle("Stats")
	if err != nil {
		return nil, err
	}
	var s C.vmm_serial_stats
	if err := call(func() C.int { return C.vmm_serial_get_stats(p, &s) }); err == nil {
		return map[string]uint64{"tx_bytes": uint64(s.tx_bytes),
			"tx_dropped": uint64(s.tx_dropped), "rx_bytes": uint64(s.rx_bytes)}, nil
	}
	var n C.vmm_net_stats
	if err := call(func() C.int { return C.vmm_virtio_net_get_stats(p, &n) }); err != nil {
		return nil, err
	}
	return map[string]uint64{"tx_frames": uint64(n.tx_frames), "tx_dropped": uint64(n.tx_dropped),
		"tx_errors": uint64(n.tx_errors), "rx_frames": uint64(n.rx_frames),
		"rx_dropped": uint64(n.rx_dropped)}, nil
}

// LogLevel is a library log message's severity.
type LogLevel int

// Log levels.
const (
	LogDebug LogLevel = C.VMM_LOG_DEBUG
	LogInfo  LogLevel = C.VMM_LOG_INFO
	LogWarn  LogLevel = C.VMM_LOG_WARN
	LogError LogLevel = C.VMM_LOG_ERROR
)

var (
	logMu sync.Mutex
	logFn func(level LogLevel, component, message string)
)

// SetLogger sends the library's log messages at min or above to fn (nil:
// none; the library never prints). fn may run on any thread, the library's
// included, and must not call into libvmm.
func SetLogger(fn func(level LogLevel, component, message string), min LogLevel) {
	logMu.Lock()
	logFn = fn
	logMu.Unlock()
	on := C.int(0)
	if fn != nil {
		on = 1
	}
	C.gv_log_set(on, C.int(min))
}
