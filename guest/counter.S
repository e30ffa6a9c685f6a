/* SPDX-License-Identifier: MIT */
/* Long mode, CPL0: drives a test-defined "counter" device at port 0x700 (adds
 * what is written, returns the sum on read) and at MMIO 0xe0000000 (a mirror),
 * then reports the sum read back through debug-exit. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov $0x700, %dx
    mov $5, %eax
    outl %eax, %dx
    mov $7, %eax
    outl %eax, %dx
    mov $0xe0000000, %edi    /* MMIO base in a register: disp32 would sign-extend */
    movl $30, (%rdi)         /* MMIO write adds 30 */
    inl %dx, %eax            /* 42 */
    mov (%rdi), %ebx         /* also 42 through MMIO */
    add %ebx, %eax           /* 84 */
    mov $0xf4, %dx
    outb %al, %dx            /* debug-exit: status 84 */
    hlt
    .section .note.GNU-stack, "", @progbits
