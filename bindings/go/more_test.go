// SPDX-License-Identifier: MIT

package libvmm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The rest of the vCPU and VM surface: MSRs, guest-virtual access, dirty
// logs, pause and state, restore statistics, snapshots from bytes, device
// counters and the log callback.
func TestMoreSurface(t *testing.T) {
	requireKVM(t)
	vm, cpu, devs := newGuest(t, "hello_long", 0, [2]any{"serial", nil}, debugExit)
	msrs := []MSR{{Index: 0xc0000080}} // EFER
	must(t, cpu.MSRs(msrs))
	if msrs[0].Value&0x500 != 0x500 {
		t.Fatalf("EFER %#x: no LME|LMA", msrs[0].Value)
	}
	gpa, err := cpu.Translate(load, false, false)
	must(t, err)
	if gpa != load {
		t.Fatalf("identity map: %#x -> %#x", load, gpa)
	}
	code := make([]byte, 4)
	must(t, cpu.ReadVirt(load, code))
	raw := make([]byte, 4)
	must(t, vm.ReadMemory(load, raw))
	if string(code) != string(raw) {
		t.Fatalf("virtual read %x, physical %x", code, raw)
	}
	if err := cpu.ReadVirt(1<<40, code); !errors.Is(err, ErrFault) {
		t.Fatalf("unmapped virtual address: %v", err)
	}
	snap, err := vm.Snapshot()
	must(t, err)
	defer snap.Free()
	if vm.State() != VMIdle {
		t.Fatalf("state %v", vm.State())
	}
	x, err := cpu.Run()
	must(t, err)
	if x.Reason != ExitStatus {
		t.Fatalf("exit %v", x.Reason)
	}
	st, err := devs[0].Stats()
	must(t, err)
	if st["tx_bytes"] != uint64(len("Hello from long mode\n")) {
		t.Fatalf("serial stats %v", st)
	}
	must(t, vm.Restore(snap))
	rs, err := vm.LastRestore()
	must(t, err)
	if rs.PagesTotal != ram/4096 || rs.PagesDirty == 0 {
		t.Fatalf("restore stats %+v", rs)
	}
	path := filepath.Join(t.TempDir(), "s.snap")
	must(t, snap.Save(path))
	b, err := os.ReadFile(path)
	must(t, err)
	s2, err := LoadSnapshotBuffer(b)
	must(t, err)
	defer s2.Free()
	if s2.MemorySize() != snap.MemorySize() {
		t.Fatalf("memory %d, %d", s2.MemorySize(), snap.MemorySize())
	}
	if _, err := LoadSnapshotBuffer(b[:100]); !errors.Is(err, ErrInvalid) {
		t.Fatalf("truncated: %v", err)
	}

	dv, err := NewVM(nil)
	must(t, err)
	defer dv.Close()
	must(t, dv.MapMemory(0, ram, MemDirtyLog))
	must(t, dv.WriteMemory(3*4096, []byte{1}))
	bm, err := dv.DirtyLog(0, ram/4096)
	must(t, err)
	_ = bm // writes from the host are not the guest's: KVM does not log them
	if _, err := dv.DirtyLog(0x1000, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no such region: %v", err)
	}
}

// The log callback sees the library's warning about an unclaimed access,
// and VM.Pause parks a spinning guest.
func TestLoggerAndPause(t *testing.T) {
	requireKVM(t)
	var mu sync.Mutex
	var msgs []string
	SetLogger(func(l LogLevel, comp, msg string) {
		mu.Lock()
		msgs = append(msgs, comp+": "+msg)
		mu.Unlock()
	}, LogWarn)
	defer SetLogger(nil, LogWarn)
	vm, _, _ := newGuest(t, "counter", 0, debugExit)
	res, err := vm.RunBudget(context.Background(), 30*time.Second)
	must(t, err)
	if res.Reason != ExitStatus {
		t.Fatalf("run %+v", res)
	}
	mu.Lock()
	got := strings.Join(msgs, "\n")
	mu.Unlock()
	if !strings.Contains(got, "unclaimed port write at 0x700") {
		t.Fatalf("log: %q", got)
	}

	spin, _, _ := newGuest(t, "spin_cpl3", 3)
	done := make(chan error, 1)
	go func() {
		_, err := spin.Run(context.Background())
		done <- err
	}()
	for spin.State() != VMRunning {
		time.Sleep(time.Millisecond)
	}
	must(t, spin.Pause())
	if spin.State() != VMPaused {
		t.Fatalf("state %v", spin.State())
	}
	snap, err := spin.Snapshot() // allowed while paused
	must(t, err)
	snap.Free()
	must(t, spin.Resume())
	must(t, spin.Stop())
	must(t, <-done)
}

func TestFuzzStats(t *testing.T) {
	requireKVM(t)
	vm := fuzzVM(t)
	f, err := NewFuzz(vm, FuzzOptions{InputAddr: 0x100000, InputSize: 8 + 4096})
	must(t, err)
	for _, in := range []string{"\x00", "\x02", "\x03"} {
		_, err := f.Run([]byte(in))
		must(t, err)
	}
	must(t, f.Reset())
	s, err := f.Stats()
	must(t, err)
	if s.Runs != 3 || s.Crashes != 2 {
		t.Fatalf("stats %+v", s)
	}
	must(t, f.Close())
	if _, err := f.Run(nil); !errors.Is(err, ErrState) {
		t.Fatalf("closed: %v", err)
	}
}
