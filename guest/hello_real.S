/* SPDX-License-Identifier: MIT */
/* Real mode: print a line on COM1, report status 0x10 through debug-exit, halt. */
    .code16
    .section .text.start, "ax"
    .globl _start
_start:
    mov %cs, %ax            /* data lives next to the code: DS = CS */
    mov %ax, %ds
    mov $msg, %si
    mov $0x3f8, %dx
1:  lodsb
    test %al, %al
    jz 2f
    outb %al, %dx
    jmp 1b
2:  mov $0xf4, %dx
    mov $0x10, %al
    outb %al, %dx
    hlt
msg:
    .asciz "Hello from real mode\n"
    .section .note.GNU-stack, "", @progbits
