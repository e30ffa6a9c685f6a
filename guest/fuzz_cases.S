/* SPDX-License-Identifier: MIT */
/* CPL3 target for the fuzz harness tests. Input at 0x100000 (64-bit length,
 * then bytes): each input byte b increments the coverage counter at
 * 0x40000 + b; then the first byte chooses the ending: 0 status 0, 1 status 7,
 * 2 ud2, 3 a store to the unmapped 0x5000000000 (#PF), 4 a loop forever,
 * 5 a write to the unclaimed MMIO address 0xe0000000, 6 scribbles 0x55 over
 * 16 pages from 0x180000 before status 0. Status goes to a debug-exit
 * register at MMIO 0xd0000000. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov 0x100000, %rcx
    xor %esi, %esi
1:  cmp %rcx, %rsi
    jae 2f
    movzbl 0x100008(%rsi), %eax
    incb 0x40000(%rax)
    inc %rsi
    jmp 1b
2:  mov $0xd0000000, %edx
    movzbl 0x100008, %eax
    cmp $1, %eax
    je 11f
    cmp $2, %eax
    je 12f
    cmp $3, %eax
    je 13f
    cmp $4, %eax
    je 14f
    cmp $5, %eax
    je 15f
    cmp $6, %eax
    je 16f
10: movl $0, (%rdx)
    jmp 10b
11: movl $7, (%rdx)
    jmp 11b
12: ud2
13: movabs $0x5000000000, %rdi
    movb $1, (%rdi)
    jmp 10b
14: jmp 14b
15: mov $0xe0000000, %edi
    movl $1, (%rdi)
    jmp 10b
16: mov $0x180000, %edi
    mov $0x10000, %ecx
    mov $0x55, %eax
    rep stosb
    jmp 10b
    .section .note.GNU-stack, "", @progbits
