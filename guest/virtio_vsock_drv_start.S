/* SPDX-License-Identifier: MIT */
/* Entry of the virtio-vsock driver guest: run vsock_main, report its result
 * through the debug-exit register at VS_EXIT_MMIO (MMIO: ports are
 * privileged at CPL3). */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    call vsock_main
    mov $0xd0000000, %ecx
    mov %eax, (%rcx)
1:  jmp 1b
    .section .note.GNU-stack, "", @progbits
