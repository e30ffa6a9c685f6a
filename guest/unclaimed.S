/* SPDX-License-Identifier: MIT */
/* Long mode, CPL0: accesses no device claims, each read answered by the host and
 * echoed back so the host can check the answer reached the guest. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov $0x510, %dx
    inl %dx, %eax            /* IO read, 4 bytes at 0x510 */
    mov $0x511, %dx
    outl %eax, %dx           /* IO write of what was read, at 0x511 */
    mov $0xd0000000, %edi    /* MMIO base in a register: disp32 would sign-extend */
    mov (%rdi), %rbx         /* MMIO read, 8 bytes */
    mov %rbx, 0x100(%rdi)    /* MMIO write of it */
    movb 0x200(%rdi), %cl    /* MMIO read, 1 byte */
    movb %cl, 0x300(%rdi)    /* MMIO write, 1 byte */
    lea msg(%rip), %rsi
    mov $5, %ecx
    mov $0x512, %dx
    rep outsb                /* string I/O: 5 bytes to port 0x512 */
    mov $0xf4, %dx
    mov $0x99, %al
    outb %al, %dx            /* debug-exit: status 0x99 */
    hlt
msg:
    .ascii "hello"
    .section .note.GNU-stack, "", @progbits
