// SPDX-License-Identifier: MIT

// Command sandbox runs a static Linux program in a libvmm sandbox under a
// system-call policy and reports what it did.
//
//	sandbox [-time 5s] [-deny-net] PROGRAM [ARG...] < input
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"libvmm"
)

func main() {
	limit := flag.Duration("time", 5*time.Second, "wall-clock limit of the run")
	denyNet := flag.Bool("deny-net", true, "kill the program if it opens a socket")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: sandbox [-time D] [-deny-net] PROGRAM [ARG...]")
		os.Exit(2)
	}
	counts := map[uint64]int{}
	policy := func(c *libvmm.Syscall) libvmm.PolicyAction {
		counts[c.Nr]++
		if *denyNet && c.Nr == 41 { // socket
			return libvmm.PolicyKill
		}
		return libvmm.PolicyDefault
	}
	sb, err := libvmm.NewSandbox(&libvmm.SandboxOptions{TimeLimit: *limit, Policy: policy})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
	defer sb.Close()
	if err := sb.Load(flag.Arg(0), flag.Args(), nil); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
	stdin, _ := io.ReadAll(os.Stdin)
	r, err := sb.Run(context.Background(), stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
	os.Stdout.Write(r.Stdout)
	os.Stderr.Write(r.Stderr)
	fmt.Fprintf(os.Stderr, "sandbox: outcome %d, exit status %d, %d system calls (%d denied)\n",
		r.Outcome, r.ExitStatus, r.Syscalls, r.Denied)
	for nr, n := range counts {
		fmt.Fprintf(os.Stderr, "sandbox:   system call %d: %d times\n", nr, n)
	}
	if r.Outcome != libvmm.Exited {
		os.Exit(125)
	}
	os.Exit(r.ExitStatus)
}
