// SPDX-License-Identifier: MIT

package libvmm

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	ram   = 2 << 20
	load  = 0x10000
	stack = 0x9000
)

// buildDir is the build tree whose guests and programs the tests use.
func buildDir() string {
	if d := os.Getenv("LIBVMM_BUILD_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "build")
}

func guest(name string) string { return filepath.Join(buildDir(), "guest", name+".bin") }

// requireKVM skips without a usable KVM, unless LIBVMM_REQUIRE_KVM=1 makes
// that a failure.
func requireKVM(t *testing.T) {
	t.Helper()
	if _, err := HostInfo(); err != nil {
		if os.Getenv("LIBVMM_REQUIRE_KVM") == "1" {
			t.Fatalf("KVM is required (LIBVMM_REQUIRE_KVM=1) but unusable: %v", err)
		}
		t.Skipf("/dev/kvm unusable: %v", err)
	}
}

// newGuest is a VM with 2 MiB of RAM, the named flat guest at 64 KiB, the
// given devices and vCPU 0 set up for long mode at cpl.
func newGuest(t *testing.T, name string, cpl int, devices ...[2]any) (*VM, *VCPU, []*Device) {
	t.Helper()
	vm, err := NewVM(nil)
	must(t, err)
	t.Cleanup(func() { vm.Close() })
	must(t, vm.MapMemory(0, ram, 0))
	_, err = vm.LoadFlat(guest(name), load)
	must(t, err)
	var devs []*Device
	for _, d := range devices {
		dev, err := vm.Attach(d[0].(string), d[1])
		must(t, err)
		devs = append(devs, dev)
	}
	cpu, err := vm.VCPU(0)
	must(t, err)
	must(t, cpu.X86Setup(ModeLong, cpl, load, stack, false))
	return vm, cpu, devs
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var debugExit = [2]any{"debug-exit", map[string]any{"size": 1}}

func TestVersionAndHost(t *testing.T) {
	s, major, minor, _ := Version()
	if major != APIMajor || minor < APIMinor || s == "" {
		t.Fatalf("version %q %d.%d", s, major, minor)
	}
	requireKVM(t)
	h, err := HostInfo()
	must(t, err)
	if h.APIVersion != 12 || h.MaxVCPUs < 1 || h.Backend == "" || h.Paging == "" {
		t.Fatalf("host info %+v", h)
	}
}

func TestHelloSerial(t *testing.T) {
	requireKVM(t)
	var mu sync.Mutex
	var out bytes.Buffer
	_, cpu, devs := newGuest(t, "hello_long", 0, [2]any{"serial", nil}, debugExit)
	must(t, devs[0].SetOutput(func(b []byte) {
		mu.Lock()
		out.Write(b)
		mu.Unlock()
	}))
	x, err := cpu.Run()
	must(t, err)
	if x.Reason != ExitStatus || x.Status != 0x40 {
		t.Fatalf("exit %v status %#x", x.Reason, x.Status)
	}
	if out.String() != "Hello from long mode\n" {
		t.Fatalf("output %q", out.String())
	}
	if devs[0].ID() != "serial0" {
		t.Fatalf("id %q", devs[0].ID())
	}
}

func TestErrors(t *testing.T) {
	requireKVM(t)
	vm, err := NewVM(nil)
	must(t, err)
	err = vm.MapMemory(0x123, 4096, 0)
	var e *Error
	if !errors.As(err, &e) || e.Code != -22 || e.Errno() != 22 || e.Message == "" ||
		!errors.Is(err, ErrInvalid) || errors.Is(err, ErrExists) {
		t.Fatalf("unaligned map: %#v", err)
	}
	must(t, vm.MapMemory(0, ram, 0))
	if err := vm.MapMemory(0, 4096, 0); !errors.Is(err, ErrExists) {
		t.Fatalf("overlap: %v", err)
	}
	if err := vm.ReadMemory(ram-4, make([]byte, 8)); !errors.Is(err, ErrFault) {
		t.Fatalf("read past RAM: %v", err)
	}
	if _, err := vm.Attach("no-such-device", nil); !errors.Is(err, ErrNotFound) ||
		!strings.Contains(err.Error(), "no-such-device") {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := vm.Attach("serial", map[string]any{"port": "nonsense"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad config: %v", err)
	}
	if _, err := vm.Attach("serial", func() {}); !errors.Is(err, ErrConfig) {
		t.Fatalf("unencodable config: %v", err)
	}
	if _, err := vm.LoadFlat("/nonexistent/image", load); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing image: %v", err)
	}
	if _, err := NewVMFromSpec([]byte(`{"memory": {"size": "lots"}}`)); err == nil ||
		!strings.HasPrefix(err.Error(), "memory.size") {
		t.Fatalf("bad spec: %v", err)
	}
	must(t, vm.Close())
	must(t, vm.Close())
	if err := vm.ReadMemory(0, make([]byte, 1)); !errors.Is(err, ErrState) {
		t.Fatalf("closed: %v", err)
	}
}

func TestMemory(t *testing.T) {
	requireKVM(t)
	vm, err := NewVM(&VMOptions{MemoryLimit: 4 << 20})
	must(t, err)
	defer vm.Close()
	must(t, vm.MapMemory(0, ram, MemDirtyLog))
	must(t, vm.WriteMemory(0x5000, []byte("abcd")))
	view, err := vm.Memory(0x5000, 4096)
	must(t, err)
	copy(view[4:], "efgh") // straight into guest RAM
	got := make([]byte, 8)
	must(t, vm.ReadMemory(0x5000, got))
	if string(got) != "abcdefgh" {
		t.Fatalf("read %q", got)
	}
	if err := vm.MapMemory(4<<20, 4<<20, 0); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("over the limit: %v", err)
	}
	must(t, vm.UnmapMemory(0))
	if err := vm.ReadMemory(0x5000, got); !errors.Is(err, ErrFault) {
		t.Fatalf("unmapped: %v", err)
	}
}

// The counter guest's device is unclaimed: its reads are answered through
// the exit's data.
func TestUnclaimedAnswered(t *testing.T) {
	requireKVM(t)
	_, cpu, _ := newGuest(t, "counter", 0, debugExit)
	var total uint32
	for {
		x, err := cpu.Run()
		must(t, err)
		if x.Reason != ExitIO && x.Reason != ExitMMIO {
			if x.Reason != ExitStatus || x.Status != 84 {
				t.Fatalf("exit %v status %d", x.Reason, x.Status)
			}
			break
		}
		if x.IsWrite {
			total += binary.LittleEndian.Uint32(x.Data)
			if err := x.SetData(make([]byte, 4)); !errors.Is(err, ErrState) {
				t.Fatalf("SetData on a write: %v", err)
			}
			continue
		}
		if err := x.SetData(make([]byte, len(x.Data)+1)); !errors.Is(err, ErrInvalid) {
			t.Fatalf("SetData of the wrong size: %v", err)
		}
		b := make([]byte, len(x.Data))
		binary.LittleEndian.PutUint32(b, total)
		must(t, x.SetData(b))
	}
}

// A spinning guest is ended by a kick from another goroutine, by its time
// budget, and by a context's cancellation (VCPU and VM runs).
func TestKickBudgetContext(t *testing.T) {
	requireKVM(t)
	vm, cpu, _ := newGuest(t, "spin_cpl3", 3)
	time.AfterFunc(200*time.Millisecond, func() { cpu.Kick() })
	x, err := cpu.Run()
	must(t, err)
	if x.Reason != ExitKicked {
		t.Fatalf("kick: %v", x.Reason)
	}
	x, err = cpu.RunContext(context.Background(), 100*time.Millisecond)
	must(t, err)
	if x.Reason != ExitTimeout {
		t.Fatalf("budget: %v", x.Reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	x, err = cpu.RunContext(ctx, 0)
	if !errors.Is(err, context.DeadlineExceeded) || x == nil || x.Reason != ExitKicked {
		t.Fatalf("context: %v %v", x, err)
	}
	r, err := cpu.Regs()
	must(t, err)
	if r.RIP < load || r.RIP >= load+16 || r.RAX == 0 {
		t.Fatalf("regs %+v", r)
	}
	r.RAX = 0x1234
	must(t, cpu.SetRegs(r))
	r, err = cpu.Regs()
	must(t, err)
	if r.RAX != 0x1234 {
		t.Fatalf("rax %#x", r.RAX)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel2)
	res, err := vm.Run(ctx2)
	if !errors.Is(err, context.Canceled) || res.Reason != ExitKicked {
		t.Fatalf("VM.Run cancelled: %+v %v", res, err)
	}
	res, err = vm.RunBudget(context.Background(), 100*time.Millisecond)
	must(t, err)
	if res.Reason != ExitTimeout {
		t.Fatalf("VM.Run budget: %+v", res)
	}
}

// Snapshots: take, run on, restore and run again the same; through a file
// into a new VM; a damaged file refused.
func TestSnapshots(t *testing.T) {
	requireKVM(t)
	var out bytes.Buffer
	vm, cpu, devs := newGuest(t, "hello_long", 0, [2]any{"serial", nil}, debugExit)
	must(t, devs[0].SetOutput(func(b []byte) { out.Write(b) }))
	snap, err := vm.Snapshot()
	must(t, err)
	defer snap.Free()
	if snap.MemorySize() == 0 {
		t.Fatal("empty snapshot")
	}
	for i := 0; i < 3; i++ {
		out.Reset()
		x, err := cpu.Run()
		must(t, err)
		if x.Reason != ExitStatus || x.Status != 0x40 || out.String() != "Hello from long mode\n" {
			t.Fatalf("run %d: %v %#x %q", i, x.Reason, x.Status, out.String())
		}
		must(t, vm.Restore(snap))
	}
	path := filepath.Join(t.TempDir(), "vm.snap")
	must(t, snap.Save(path))
	loaded, err := LoadSnapshot(path)
	must(t, err)
	defer loaded.Free()
	out.Reset()
	vm2, cpu2, devs2 := newGuest(t, "hello_long", 0, [2]any{"serial", nil}, debugExit)
	must(t, devs2[0].SetOutput(func(b []byte) { out.Write(b) }))
	must(t, vm2.WriteMemory(load, make([]byte, 64))) // the restore brings the code back
	must(t, vm2.Restore(loaded))
	x, err := cpu2.Run()
	must(t, err)
	if x.Reason != ExitStatus || out.String() != "Hello from long mode\n" {
		t.Fatalf("restored from file: %v %q", x.Reason, out.String())
	}
	b, err := os.ReadFile(path)
	must(t, err)
	b[100] ^= 1
	must(t, os.WriteFile(path, b, 0o600))
	if _, err := LoadSnapshot(path); !errors.Is(err, ErrInvalid) {
		t.Fatalf("damaged file: %v", err)
	}
	snap.Free()
	if err := vm.Restore(snap); !errors.Is(err, ErrState) {
		t.Fatalf("freed snapshot: %v", err)
	}
}

// A spec with each built-in device builds, runs and snapshots.
func TestSpecEveryDevice(t *testing.T) {
	requireKVM(t)
	dir := t.TempDir()
	disk := filepath.Join(dir, "disk.img")
	must(t, os.WriteFile(disk, make([]byte, 1<<20), 0o600))
	spec := map[string]any{
		"name":   "every-device",
		"vcpus":  1,
		"memory": map[string]any{"size": "2M"},
		"cpu":    map[string]any{"mode": "long", "stack": "0x9000"},
		"boot":   map[string]any{"kind": "flat", "path": guest("hello_long"), "address": "0x10000"},
		"devices": []any{
			map[string]any{"type": "serial", "id": "com1", "console": true},
			map[string]any{"type": "debug-exit", "id": "exit", "size": 1},
			map[string]any{"type": "virtio-rng", "mmio": "0xd0000000"},
			map[string]any{"type": "virtio-blk", "mmio": "0xd0001000", "path": disk},
			map[string]any{"type": "virtio-net", "mmio": "0xd0002000"},
			map[string]any{"type": "virtio-console", "mmio": "0xd0003000"},
			map[string]any{"type": "virtio-vsock", "mmio": "0xd0004000", "guest_cid": 3,
				"uds_path": filepath.Join(dir, "v.sock")},
		},
	}
	text, err := json.Marshal(spec)
	must(t, err)
	must(t, CheckSpec(text))
	vm, err := NewVMFromSpec(text)
	must(t, err)
	defer vm.Close()
	if vm.Spec.Name != "every-device" || vm.Spec.VCPUs != 1 || vm.Spec.Console == nil {
		t.Fatalf("spec info %+v", vm.Spec)
	}
	var out bytes.Buffer
	var mu sync.Mutex
	must(t, vm.Spec.Console.SetOutput(func(b []byte) { mu.Lock(); out.Write(b); mu.Unlock() }))
	snap, err := vm.Snapshot()
	must(t, err)
	defer snap.Free()
	for i := 0; i < 2; i++ {
		mu.Lock()
		out.Reset()
		mu.Unlock()
		res, err := vm.RunBudget(context.Background(), 30*time.Second)
		must(t, err)
		if res.Reason != ExitStatus || res.Status != 0x40 {
			t.Fatalf("run %d: %+v", i, res)
		}
		mu.Lock()
		got := out.String()
		mu.Unlock()
		if got != "Hello from long mode\n" {
			t.Fatalf("run %d output %q", i, got)
		}
		must(t, vm.Restore(snap))
	}
	spec["devices"].([]any)[3].(map[string]any)["path"] = filepath.Join(dir, "none")
	text, _ = json.Marshal(spec)
	var e *Error
	if _, err := NewVMFromSpec(text); !errors.As(err, &e) ||
		!strings.HasPrefix(err.Error(), "devices[3].path") {
		t.Fatalf("missing disk: %v", err)
	}
}
