// SPDX-License-Identifier: MIT

// Command vmrun builds a VM from a JSON spec and runs it until it stops,
// its time limit passes or it is interrupted (SIGINT, SIGTERM): a minimal
// vmm-run in Go. The console device's output goes to stdout.
//
//	vmrun SPEC.json
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"libvmm"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: vmrun SPEC.json")
		os.Exit(2)
	}
	vm, err := libvmm.NewVMFromSpecFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmrun:", err)
		os.Exit(1)
	}
	defer vm.Close()
	if c := vm.Spec.Console; c != nil {
		if err := c.SetOutput(func(b []byte) { os.Stdout.Write(b) }); err != nil {
			fmt.Fprintln(os.Stderr, "vmrun:", err)
			os.Exit(1)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := vm.RunBudget(ctx, vm.Spec.TimeBudget)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintln(os.Stderr, "vmrun:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "vmrun: %s: %v (vCPU %d)", vm.Spec.Name, res.Reason, res.VCPU)
	if res.Reason == libvmm.ExitStatus {
		fmt.Fprintf(os.Stderr, ", status %d", res.Status)
	}
	fmt.Fprintln(os.Stderr)
	if res.Reason == libvmm.ExitStatus {
		os.Exit(res.Status & 0xff)
	}
}
