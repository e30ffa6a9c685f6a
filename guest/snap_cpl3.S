/* SPDX-License-Identifier: MIT */
/* CPL3 loop for snapshot reset tests: increments the counter at 0x100000 (one
 * page dirtied per round) and reports it by an MMIO write to 0xd0000000, which
 * no device claims, so each round ends in an exit to the host. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov $0xd0000000, %ecx       /* absolute disp32 would sign-extend: use a register */
1:  mov 0x100000, %rax
    inc %rax
    mov %rax, 0x100000
    mov %rax, (%rcx)
    jmp 1b
    .section .note.GNU-stack, "", @progbits
