// SPDX-License-Identifier: MIT

package libvmm

// The Go functions C calls back. This file's preamble declares only (cgo
// copies it into two C files); the trampolines that call these are in
// trampolines.go. Every callback finds its Go value through a
// runtime/cgo.Handle passed as the C side's opaque pointer: no Go pointer is
// ever stored in C.

/*
#include <stddef.h>
#include <stdint.h>
#include <libvmm/sandbox.h>
#include <libvmm/sys/device.h>
#include <libvmm/log.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

//export goByteSink
func goByteSink(h C.uintptr_t, buf *C.uint8_t, n C.size_t) {
	f := cgo.Handle(h).Value().(*byteSink)
	f.deliver(C.GoBytes(unsafe.Pointer(buf), C.int(n)))
}

//export goHostFn
func goHostFn(h C.uintptr_t, in unsafe.Pointer, inLen C.size_t, out unsafe.Pointer,
	outCap C.size_t) C.int64_t {
	f := cgo.Handle(h).Value().(*hostFunc)
	return C.int64_t(f.call(C.GoBytes(in, C.int(inLen)), unsafe.Slice((*byte)(out), int(outCap))))
}

//export goPolicy
func goPolicy(h C.uintptr_t, call *C.vmm_sandbox_syscall) C.int {
	s := cgo.Handle(h).Value().(*sandboxState)
	return C.int(s.policy(call))
}

//export goDevCreate
func goDevCreate(dev *C.vmm_device, config *C.char, state *C.uintptr_t) C.int {
	return C.int(devCreate(dev, config, state))
}

//export goDevAccess
func goDevAccess(h C.uintptr_t, rng C.uint, off C.uint64_t, data unsafe.Pointer, size C.uint,
	write C.int) C.int {
	d := cgo.Handle(h).Value().(*goDevice)
	return C.int(d.access(int(rng), uint64(off), unsafe.Slice((*byte)(data), int(size)), write != 0))
}

//export goDevReset
func goDevReset(h C.uintptr_t) {
	cgo.Handle(h).Value().(*goDevice).reset()
}

//export goDevSave
func goDevSave(h C.uintptr_t, buf unsafe.Pointer, cap C.size_t, n *C.size_t) C.int {
	return C.int(cgo.Handle(h).Value().(*goDevice).save(buf, cap, n))
}

//export goDevLoad
func goDevLoad(h C.uintptr_t, buf unsafe.Pointer, n C.size_t) C.int {
	return C.int(cgo.Handle(h).Value().(*goDevice).load(C.GoBytes(buf, C.int(n))))
}

//export goDevDestroy
func goDevDestroy(h C.uintptr_t) {
	hd := cgo.Handle(h)
	hd.Value().(*goDevice).destroy()
	hd.Delete()
}

//export goLog
func goLog(level C.int, component *C.char, msg *C.char) {
	logMu.Lock()
	fn := logFn
	logMu.Unlock()
	if fn == nil {
		return
	}
	defer func() { _ = recover() }()
	fn(LogLevel(level), C.GoString(component), C.GoString(msg))
}
