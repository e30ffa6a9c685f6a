/* SPDX-License-Identifier: MIT */
/* Entry of the streaming virtio-blk driver guest: run bb_main, report its
 * result through the debug-exit register at BB_EXIT_MMIO. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    call bb_main
    mov $0xd0000000, %ecx
    mov %eax, (%rcx)
1:  jmp 1b
    .section .note.GNU-stack, "", @progbits
