/* SPDX-License-Identifier: MIT */
/* 64-bit long mode: print a line on COM1, report status 0x40, halt. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    lea msg(%rip), %rsi
    mov $0x3f8, %dx
1:  lodsb
    test %al, %al
    jz 2f
    outb %al, %dx
    jmp 1b
2:  mov $0xf4, %dx
    mov $0x40, %al
    outb %al, %dx
    hlt
msg:
    .asciz "Hello from long mode\n"
    .section .note.GNU-stack, "", @progbits
