/* SPDX-License-Identifier: MIT */
/* 32-bit protected mode: print a line on COM1, report status 0x20, halt. */
    .code32
    .section .text.start, "ax"
    .globl _start
_start:
    mov $msg, %esi
    mov $0x3f8, %dx
1:  lodsb
    test %al, %al
    jz 2f
    outb %al, %dx
    jmp 1b
2:  mov $0xf4, %dx
    mov $0x20, %al
    outb %al, %dx
    hlt
msg:
    .asciz "Hello from protected mode\n"
    .section .note.GNU-stack, "", @progbits
