/* SPDX-License-Identifier: MIT */
/* Long mode, CPL0: echo COM1 input to COM1 output by polling LSR, until a
 * newline; then report the number of bytes echoed through debug-exit. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    xor %ecx, %ecx
1:  mov $0x3fd, %dx             /* LSR */
    in %dx, %al
    test $1, %al                /* data ready? */
    jz 1b
    mov $0x3f8, %dx
    in %dx, %al
    out %al, %dx
    inc %ecx
    cmp $0x0a, %al
    jne 1b
    mov %ecx, %eax
    mov $0xf4, %dx
    out %al, %dx
    hlt
    .section .note.GNU-stack, "", @progbits
