/* SPDX-License-Identifier: MIT */
/* Long mode, CPL3, for snapshot tests: changes memory (four pages, one of which
 * the host also writes), general registers, SSE registers and MXCSR, and the
 * scratch, line control and interrupt enable registers of a serial port at
 * MMIO 0xd0001000, then reports status 0x5e through a debug-exit register at
 * MMIO 0xd0002000. CPL3 because it runs natively on PVM, whose CPL0 emulation
 * knows no LDMXCSR; MMIO because ports are privileged at CPL3. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov $0x100000, %edi
    mov $0x1122334455667788, %rax
    mov %rax, (%rdi)            /* 0x100000 */
    mov %rax, 0x1008(%rdi)      /* 0x101008 */
    mov %rax, 0x80010(%rdi)     /* 0x180010 */
    mov %rax, 0x50100(%rdi)     /* 0x150100: the host writes 0x150000 too */
    lea vec(%rip), %rsi
    movdqu (%rsi), %xmm0
    movdqu 16(%rsi), %xmm7
    movdqu (%rsi), %xmm15
    ldmxcsr 32(%rsi)
    mov $0xd0001000, %edx
    movb $0x5a, 7(%rdx)         /* SCR */
    movb $0x1f, 3(%rdx)         /* LCR: 8 data bits, 2 stop bits, even parity */
    movb $0x05, 1(%rdx)         /* IER: received data and line status */
    mov $0xb0b0, %ebx
    mov $0xc0c0, %ecx
    mov $0x5151, %esi
    mov $0xd1d1, %edi
    mov $0xb9b9, %ebp
    mov $0x0808, %r8d
    mov $0x0909, %r9d
    mov $0x1010, %r10d
    mov $0x1111, %r11d
    mov $0x1212, %r12d
    mov $0x1313, %r13d
    mov $0x1414, %r14d
    mov $0x1515, %r15d
    mov $0xd0002000, %eax
    movb $0x5e, (%rax)
1:  jmp 1b
vec:
    .quad 0x0123456789abcdef, 0xfedcba9876543210
    .quad 0xdeadbeefcafebabe, 0x0f1e2d3c4b5a6978
    .long 0x9fc0                /* MXCSR: flush to zero, round down, exceptions masked */
    .section .note.GNU-stack, "", @progbits
