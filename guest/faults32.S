/* SPDX-License-Identifier: MIT */
/* faults.S for 32-bit protected mode (paging off, so no page faults): the
 * dword at 0x100000 chooses 0 ud2, 2 a division by zero, 3 int3, 5 int $0x80,
 * anything else an MMIO write to 0xd0000000. */
    .section .text.start, "ax"
    .globl _start
    .code32
_start:
    mov 0x100000, %eax
    cmp $0, %eax
    je 10f
    cmp $2, %eax
    je 12f
    cmp $3, %eax
    je 13f
    cmp $5, %eax
    je 15f
    movl $42, 0xd0000000
    jmp _start
10: ud2
12: xor %edx, %edx
    xor %ecx, %ecx
    mov $1, %eax
    div %ecx
    jmp _start
13: int3
    jmp _start
15: int $0x80
    jmp _start
    .section .note.GNU-stack, "", @progbits
