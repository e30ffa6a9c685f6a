// SPDX-License-Identifier: MIT

//go:build libvmm_bench

package libvmm

// The C side of the Go benchmarks (bench_test.go, `go test -tags
// libvmm_bench -bench .`): the very loops bindings/python/bench.py times
// (bench/bench_pyref.c), over the same objects, so that a Go loop and its C
// twin are timed in one run and differ only by the binding.

/*
#cgo CFLAGS: -O2
#include "../../bench/bench_pyref.c"
*/
import "C"

import "time"

func benchCExits(c *VCPU, n int) time.Duration {
	t := C.vmm_bench_vcpu_exits(c.vcpu, C.int(n))
	if t < 0 {
		return -1
	}
	return time.Duration(float64(t) * 1e9)
}

func benchCSandbox(s *Sandbox, n int) time.Duration {
	t := C.vmm_bench_sandbox_cycles(s.state.sb, C.int(n))
	if t < 0 {
		return -1
	}
	return time.Duration(float64(t) * 1e9)
}
