/* SPDX-License-Identifier: MIT */
/* Spins forever at CPL3 (native speed on every host): for kick and budget tests. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
1:  inc %rax
    jmp 1b
    .section .note.GNU-stack, "", @progbits
