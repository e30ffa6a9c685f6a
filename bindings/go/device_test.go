// SPDX-License-Identifier: MIT

package libvmm

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// counter is the guest's counter device (guest/counter.S), written in Go:
// port 0x700 and an MMIO mirror at 0xe0000000 add what is written and
// return the sum.
type counter struct {
	mu    sync.Mutex
	total uint32
	panic bool
}

func (c *counter) Read(rng int, off uint64, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.panic {
		panic("the counter broke")
	}
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, c.total)
	copy(data, b)
	return nil
}

func (c *counter) Write(rng int, off uint64, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := make([]byte, 4)
	copy(b, data)
	c.total += binary.LittleEndian.Uint32(b)
	return nil
}

func (c *counter) Reset() { c.mu.Lock(); c.total = 0; c.mu.Unlock() }

func (c *counter) Save() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return binary.LittleEndian.AppendUint32(nil, c.total), nil
}

func (c *counter) Load(b []byte) error {
	if len(b) != 4 {
		return errors.New("counter state is 4 bytes")
	}
	c.mu.Lock()
	c.total = binary.LittleEndian.Uint32(b)
	c.mu.Unlock()
	return nil
}

var (
	counterOnce sync.Once
	counters    []*counter
	countersMu  sync.Mutex
)

func registerCounter(t *testing.T) {
	counterOnce.Do(func() {
		must(t, RegisterDevice("go-counter", func(ctx *DeviceContext, config []byte) (DeviceModel, error) {
			var cfg struct {
				Start uint32 `json:"start"`
				Panic bool   `json:"panic"`
			}
			if config != nil {
				if err := json.Unmarshal(config, &cfg); err != nil {
					return nil, &Error{Code: int(ErrConfig.Code), Message: "go-counter: " + err.Error()}
				}
			}
			if err := ctx.Claim(SpacePIO, 0x700, 4); err != nil {
				return nil, err
			}
			if err := ctx.Claim(SpaceMMIO, 0xe0000000, 0x1000); err != nil {
				return nil, err
			}
			c := &counter{total: cfg.Start, panic: cfg.Panic}
			countersMu.Lock()
			counters = append(counters, c)
			countersMu.Unlock()
			return c, nil
		}))
	})
}

// A device written in Go, driven by the guest; its state goes into
// snapshots; registering a name twice fails.
func TestGoDevice(t *testing.T) {
	requireKVM(t)
	registerCounter(t)
	if err := RegisterDevice("go-counter", nil); !errors.Is(err, ErrExists) {
		t.Fatalf("registered twice: %v", err)
	}
	vm, cpu, devs := newGuest(t, "counter", 0, [2]any{"go-counter", nil}, debugExit)
	snap, err := vm.Snapshot()
	must(t, err)
	defer snap.Free()
	for i := 0; i < 2; i++ {
		x, err := cpu.Run()
		must(t, err)
		if x.Reason != ExitStatus || x.Status != 84 {
			t.Fatalf("run %d: %v %d", i, x.Reason, x.Status)
		}
		must(t, vm.Restore(snap)) // the counter back to 0 too
	}
	state, err := devs[0].Save()
	must(t, err)
	if binary.LittleEndian.Uint32(state) != 0 {
		t.Fatalf("restored state %v", state)
	}
	if err := devs[0].Load([]byte{1}); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "4 bytes") {
		t.Fatalf("bad state: %v", err)
	}
	if _, err := vm.Attach("go-counter", `{"start": "x"}`); !errors.Is(err, ErrConfig) ||
		!strings.Contains(err.Error(), "go-counter") {
		t.Fatalf("bad config: %v", err)
	}
}

// A device that panics stops the run, and the run returns the panic as an
// error; the process and the VM carry on.
func TestGoDevicePanics(t *testing.T) {
	requireKVM(t)
	registerCounter(t)
	_, cpu, _ := newGuest(t, "counter", 0, [2]any{"go-counter", map[string]any{"panic": true}},
		debugExit)
	_, err := cpu.Run()
	if err == nil || !strings.Contains(err.Error(), "the counter broke") {
		t.Fatalf("run: %v", err)
	}
	vm2, _, _ := newGuest(t, "counter", 0, [2]any{"go-counter", map[string]any{"panic": true}},
		debugExit)
	_, err = vm2.RunBudget(context.Background(), 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "the counter broke") {
		t.Fatalf("VM.Run: %v", err)
	}
}

// A Go device in a spec.
func TestGoDeviceInSpec(t *testing.T) {
	requireKVM(t)
	registerCounter(t)
	spec := map[string]any{
		"vcpus":  1,
		"memory": map[string]any{"size": "2M"},
		"cpu":    map[string]any{"mode": "long", "stack": "0x9000"},
		"boot":   map[string]any{"kind": "flat", "path": guest("counter"), "address": "0x10000"},
		"devices": []any{
			map[string]any{"type": "go-counter", "start": 0},
			map[string]any{"type": "debug-exit", "size": 1},
		},
	}
	text, err := json.Marshal(spec)
	must(t, err)
	vm, err := NewVMFromSpec(text)
	must(t, err)
	defer vm.Close()
	res, err := vm.RunBudget(context.Background(), 30*time.Second)
	must(t, err)
	if res.Reason != ExitStatus || res.Status != 84 {
		t.Fatalf("run: %+v", res)
	}
}
