// SPDX-License-Identifier: MIT

//go:build libvmm_bench

package libvmm

import (
	"context"
	"testing"
	"time"
)

// outLoop is `1: out %al, $0x80; jmp 1b`: an unclaimed port write per run.
var outLoop = []byte{0xe6, 0x80, 0xeb, 0xfc}

// BenchmarkExitRoundTrip is one VCPU.Run that ends in an unclaimed I/O exit;
// the same loop in C (bench/bench_pyref.c) over the same vCPU runs as many
// exits in the same benchmark, and the ratio is reported as go/c.
func BenchmarkExitRoundTrip(b *testing.B) {
	requireKVMB(b)
	vm, err := NewVM(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer vm.Close()
	if err := vm.MapMemory(0, ram, 0); err != nil {
		b.Fatal(err)
	}
	if err := vm.WriteMemory(load, outLoop); err != nil {
		b.Fatal(err)
	}
	cpu, err := vm.VCPU(0)
	if err != nil {
		b.Fatal(err)
	}
	if err := cpu.X86Setup(ModeLong, 0, load, stack, false); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if x, err := cpu.Run(); err != nil || x.Reason != ExitIO {
			b.Fatalf("exit %v, %v", x, err)
		}
	}
	goTime := time.Since(start)
	b.StopTimer()
	cTime := benchCExits(cpu, b.N)
	if cTime <= 0 {
		b.Fatal("the C loop failed")
	}
	b.ReportMetric(float64(cTime.Nanoseconds())/float64(b.N), "c-ns/op")
	b.ReportMetric(float64(goTime)/float64(cTime), "go/c")
}

// BenchmarkSandboxResetRun is one reset+run of the hello program, against
// the same cycle in C over the same sandbox.
func BenchmarkSandboxResetRun(b *testing.B) {
	requireKVMB(b)
	sb, err := NewSandbox(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	if err := sb.Load(program("hello"), nil, nil); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		r, err := sb.Run(ctx, nil)
		if err != nil || r.Outcome != Exited || r.ExitStatus != 0 {
			b.Fatalf("run: %+v %v", r, err)
		}
		if err := sb.Reset(); err != nil {
			b.Fatal(err)
		}
	}
	goTime := time.Since(start)
	b.StopTimer()
	cTime := benchCSandbox(sb, b.N)
	if cTime <= 0 {
		b.Fatal("the C loop failed")
	}
	b.ReportMetric(float64(cTime.Nanoseconds())/float64(b.N), "c-ns/op")
	b.ReportMetric(float64(goTime)/float64(cTime), "go/c")
}

func requireKVMB(b *testing.B) {
	if _, err := HostInfo(); err != nil {
		b.Skipf("/dev/kvm unusable: %v", err)
	}
}
