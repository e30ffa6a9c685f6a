// SPDX-License-Identifier: MIT

// Command device attaches a device written in Go to a VM and runs a guest
// that drives it: the counter of guest/counter.S (port 0x700 and an MMIO
// mirror at 0xe0000000 add what is written and read back the sum), which
// the guest reports through debug-exit.
//
//	device BUILD_DIR/guest/counter.bin
package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"

	"libvmm"
)

type counter struct {
	mu    sync.Mutex
	total uint32
}

func (c *counter) Read(rng int, off uint64, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], c.total)
	copy(data, b[:])
	return nil
}

func (c *counter) Write(rng int, off uint64, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b [4]byte
	copy(b[:], data)
	c.total += binary.LittleEndian.Uint32(b[:])
	fmt.Printf("device: the guest added %d (range %d)\n", binary.LittleEndian.Uint32(b[:]), rng)
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "device:", err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: device COUNTER_GUEST.bin")
		os.Exit(2)
	}
	err := libvmm.RegisterDevice("counter", func(ctx *libvmm.DeviceContext, _ []byte) (libvmm.DeviceModel, error) {
		if err := ctx.Claim(libvmm.SpacePIO, 0x700, 4); err != nil {
			return nil, err
		}
		if err := ctx.Claim(libvmm.SpaceMMIO, 0xe0000000, 0x1000); err != nil {
			return nil, err
		}
		return &counter{}, nil
	})
	if err != nil {
		fail(err)
	}
	vm, err := libvmm.NewVM(nil)
	if err != nil {
		fail(err)
	}
	defer vm.Close()
	if err := vm.MapMemory(0, 2<<20, 0); err != nil {
		fail(err)
	}
	if _, err := vm.LoadFlat(os.Args[1], 0x10000); err != nil {
		fail(err)
	}
	for _, d := range [][2]string{{"counter", ""}, {"debug-exit", `{"size": 1}`}} {
		var cfg any
		if d[1] != "" {
			cfg = d[1]
		}
		if _, err := vm.Attach(d[0], cfg); err != nil {
			fail(err)
		}
	}
	cpu, err := vm.VCPU(0)
	if err != nil {
		fail(err)
	}
	if err := cpu.X86Setup(libvmm.ModeLong, 0, 0x10000, 0x9000, false); err != nil {
		fail(err)
	}
	x, err := cpu.Run()
	if err != nil {
		fail(err)
	}
	fmt.Printf("device: the guest read back %d (exit %v)\n", x.Status, x.Reason)
	if x.Reason != libvmm.ExitStatus || x.Status != 84 {
		os.Exit(1)
	}
}
