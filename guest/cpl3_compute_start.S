/* SPDX-License-Identifier: MIT */
/* CPL3 long-mode entry: RDI = iterations. Runs the compute kernel, writes the
 * result to MMIO 0xd0000008 (unclaimed: the host sees it as an MMIO exit), then
 * ends the run through a debug-exit register at MMIO 0xd0000000 (status 0x33).
 * MMIO, not port I/O, because ports are privileged at CPL3. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    call vmm_guest_compute
    mov $0xd0000000, %ecx    /* absolute disp32 would sign-extend: use a register */
    mov %rax, 8(%rcx)
    movl $0x33, (%rcx)
1:  jmp 1b
    .section .note.GNU-stack, "", @progbits
