/* SPDX-License-Identifier: MIT */
/* Raises the exception the host chose, for the exception-reporting tests: the
 * command is the quadword at 0x100000 (long mode; faults32.S is the protected-mode
 * version). 0 ud2, 1 a load from an unmapped address, 2 a
 * division by zero, 3 int3, 4 a load from a non-canonical address, 5 int $0x80,
 * anything else an MMIO write to 0xd0000000 (no fault). */
    .section .text.start, "ax"
    .globl _start
    .code64
_start:
    mov 0x100000, %rax
    cmp $0, %rax
    je 10f
    cmp $1, %rax
    je 11f
    cmp $2, %rax
    je 12f
    cmp $3, %rax
    je 13f
    cmp $4, %rax
    je 14f
    cmp $5, %rax
    je 15f
    mov $0xd0000000, %ecx
    movl $42, (%rcx)
    jmp _start
10: ud2
11: movabs $0x123400000000, %rcx
    mov (%rcx), %rax
    jmp _start
12: xor %edx, %edx
    xor %ecx, %ecx
    mov $1, %eax
    div %ecx
    jmp _start
13: int3
    jmp _start
14: movabs $0x8000000000000000, %rcx
    mov (%rcx), %rax
    jmp _start
15: int $0x80
    jmp _start
    .section .note.GNU-stack, "", @progbits
