/* SPDX-License-Identifier: MIT */
/* Long mode, CPL0: CPUID leaf 0, vendor EBX written to (unclaimed) port 0x520. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    xor %eax, %eax
    xor %ecx, %ecx
    cpuid
    mov %ebx, %eax
    mov $0x520, %dx
    outl %eax, %dx
    hlt
    .section .note.GNU-stack, "", @progbits
