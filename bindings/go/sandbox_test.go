// SPDX-License-Identifier: MIT

package libvmm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func program(name string) string { return filepath.Join(buildDir(), "tests", "sandbox", name) }

func newSandbox(t *testing.T, opts *SandboxOptions) *Sandbox {
	t.Helper()
	sb, err := NewSandbox(opts)
	must(t, err)
	t.Cleanup(func() { sb.Close() })
	return sb
}

func TestSandboxHello(t *testing.T) {
	requireKVM(t)
	sb := newSandbox(t, nil)
	must(t, sb.Load(program("hello"), nil, nil))
	r, err := sb.Run(context.Background(), nil)
	must(t, err)
	if r.Outcome != Exited || r.ExitStatus != 0 || string(r.Stdout) != "hello from the sandbox\n" ||
		len(r.Stderr) != 0 || r.Syscalls == 0 {
		t.Fatalf("result %+v", r)
	}
	sb2 := newSandbox(t, nil)
	must(t, sb2.Load(program("exit3"), nil, nil))
	r, err = sb2.Run(context.Background(), nil)
	must(t, err)
	if r.Outcome != Exited || r.ExitStatus != 3 {
		t.Fatalf("exit3: %+v", r)
	}
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	must(t, err)
	return len(entries)
}

// 1,000 reset+run cycles leave the process's descriptors as they were.
func TestSandboxResetCycles(t *testing.T) {
	requireKVM(t)
	before := openFDs(t)
	sb, err := NewSandbox(&SandboxOptions{MemorySize: 32 << 20})
	must(t, err)
	must(t, sb.Load(program("cat"), nil, nil))
	cycle := func(i int) {
		in := fmt.Sprintf("call %d", i)
		r, err := sb.Run(context.Background(), []byte(in))
		must(t, err)
		if r.Outcome != Exited || string(r.Stdout) != strings.ToUpper(in) {
			t.Fatalf("cycle %d: %+v %q", i, r, r.Stdout)
		}
		must(t, sb.Reset())
	}
	cycle(0)
	open := openFDs(t)
	for i := 1; i <= 1000; i++ {
		cycle(i)
	}
	if n := openFDs(t); n != open {
		t.Fatalf("descriptors: %d before the cycles, %d after", open, n)
	}
	must(t, sb.Close())
	if n := openFDs(t); n != before {
		t.Fatalf("descriptors: %d before the sandbox, %d after", before, n)
	}
}

func TestSandboxHostFunctions(t *testing.T) {
	requireKVM(t)
	sb := newSandbox(t, nil)
	must(t, sb.Register("upper", func(in []byte) ([]byte, error) { return bytes.ToUpper(in), nil }))
	must(t, sb.Register("add", func(in []byte) ([]byte, error) {
		if len(in) != 16 {
			return nil, syscall.EDOM
		}
		out := make([]byte, 8)
		sum := int64(binary.LittleEndian.Uint64(in)) + int64(binary.LittleEndian.Uint64(in[8:]))
		binary.LittleEndian.PutUint64(out, uint64(sum))
		return out, nil
	}))
	must(t, sb.Load(program("hostcall"), nil, nil))
	r, err := sb.Run(context.Background(), nil)
	must(t, err)
	for _, want := range []string{"upper: 10 HELLO HOST\n", "add: 8 1234567890100\n",
		"add short: -33\n", "nosuch: -2\n"} {
		if !bytes.Contains(r.Stdout, []byte(want)) {
			t.Fatalf("no %q in %q", want, r.Stdout)
		}
	}
}

// A panicking host function stops the run; Run returns the panic as its
// error, and the process carries on.
func TestSandboxPanickingHostFunction(t *testing.T) {
	requireKVM(t)
	sb := newSandbox(t, nil)
	must(t, sb.Register("upper", func(in []byte) ([]byte, error) { panic("from the host function") }))
	must(t, sb.Register("add", func(in []byte) ([]byte, error) { return nil, nil }))
	must(t, sb.Load(program("hostcall"), nil, nil))
	r, err := sb.Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "from the host function") || r.Outcome != Stopped {
		t.Fatalf("run: %+v %v", r, err)
	}
	must(t, sb.Reset())
}

func TestSandboxPolicy(t *testing.T) {
	requireKVM(t)
	var seen []uint64
	sb := newSandbox(t, &SandboxOptions{Policy: func(c *Syscall) PolicyAction {
		seen = append(seen, c.Nr)
		if c.Nr == 110 { // getppid
			c.Ret = 4242
			return PolicyHandled
		}
		return PolicyDefault
	}})
	must(t, sb.Load(program("ppid"), nil, nil))
	r, err := sb.Run(context.Background(), nil)
	must(t, err)
	if string(r.Stdout) != "ppid 4242\n" || len(seen) == 0 {
		t.Fatalf("ppid: %q %v", r.Stdout, seen)
	}
	kill := newSandbox(t, &SandboxOptions{Policy: func(c *Syscall) PolicyAction {
		if c.Nr == 1 || c.Nr == 20 { // write, writev
			return PolicyKill
		}
		return PolicyDefault
	}})
	must(t, kill.Load(program("hello"), nil, nil))
	r, err = kill.Run(context.Background(), nil)
	must(t, err)
	if r.Outcome != Killed || len(r.Stdout) != 0 {
		t.Fatalf("killed: %+v", r)
	}
	panics := newSandbox(t, &SandboxOptions{Policy: func(c *Syscall) PolicyAction {
		panic(fmt.Sprintf("policy failed on %d", c.Nr))
	}})
	must(t, panics.Load(program("hello"), nil, nil))
	if _, err := panics.Run(context.Background(), nil); err == nil ||
		!strings.Contains(err.Error(), "policy failed") {
		t.Fatalf("panicking policy: %v", err)
	}
}

func TestSandboxLimits(t *testing.T) {
	requireKVM(t)
	sb := newSandbox(t, &SandboxOptions{TimeLimit: 300 * time.Millisecond})
	must(t, sb.Load(program("loop"), nil, nil))
	r, err := sb.Run(context.Background(), nil)
	must(t, err)
	if r.Outcome != Timeout {
		t.Fatalf("loop: %+v", r)
	}
	must(t, sb.Reset())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r, err = sb.Run(ctx, nil) // the context ends it first
	if r == nil || r.Outcome != Stopped || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled: %+v %v", r, err)
	}
	nul := newSandbox(t, nil)
	must(t, nul.Load(program("nullptr"), nil, nil))
	r, err = nul.Run(context.Background(), nil)
	must(t, err)
	if r.Outcome != Fault || r.FaultVector != 14 {
		t.Fatalf("nullptr: %+v", r)
	}
	if _, err := NewSandbox(&SandboxOptions{MemorySize: 12345}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad memory size: %v", err)
	}
	dyn := newSandbox(t, nil)
	if err := dyn.Load(program("hello_dyn"), nil, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("dynamic program: %v", err)
	}
}

func TestFuzz(t *testing.T) {
	requireKVM(t)
	vm := fuzzVM(t)
	f, err := NewFuzz(vm, FuzzOptions{InputAddr: 0x100000, InputSize: 8 + 4096,
		CoverageAddr: 0x40000, CoverageSize: 256})
	must(t, err)
	defer f.Close()
	r, err := f.Run([]byte("\x00ab"))
	must(t, err)
	cov := f.Coverage()
	if r.Outcome != FuzzOK || len(cov) != 256 || cov[0] != 1 || cov['a'] != 1 || cov['c'] != 0 {
		t.Fatalf("ok case: %+v, coverage %v", r, cov[:4])
	}
	cases := []struct {
		in      string
		outcome FuzzOutcome
		check   func(*FuzzResult) bool
	}{
		{"\x01", FuzzStatus, func(r *FuzzResult) bool { return r.Status == 7 }},
		{"\x02", FuzzCrash, func(r *FuzzResult) bool { return r.Vector == 6 }},
		{"\x03", FuzzCrash, func(r *FuzzResult) bool { return r.Vector == 14 && r.Address == 0x5000000000 }},
	}
	for _, c := range cases {
		r, err := f.Run([]byte(c.in))
		must(t, err)
		if r.Outcome != c.outcome || !c.check(r) {
			t.Fatalf("input %q: %+v", c.in, r)
		}
	}
	if _, err := f.Run(make([]byte, 5000)); !errors.Is(err, ErrRange) {
		t.Fatalf("too long: %v", err)
	}
}

// fuzzVM is the fuzz_cases guest at CPL3 with exception reporting and
// debug-exit at 0xd0000000.
func fuzzVM(t *testing.T) *VM {
	t.Helper()
	vm, err := NewVM(nil)
	must(t, err)
	t.Cleanup(func() { vm.Close() })
	must(t, vm.MapMemory(0, ram, 0))
	_, err = vm.Attach("debug-exit", `{"mmio": "0xd0000000", "size": 4}`)
	must(t, err)
	_, err = vm.LoadFlat(guest("fuzz_cases"), load)
	must(t, err)
	cpu, err := vm.VCPU(0)
	must(t, err)
	must(t, cpu.X86Setup(ModeLong, 3, load, stack, true))
	return vm
}
