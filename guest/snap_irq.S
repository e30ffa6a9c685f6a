/* SPDX-License-Identifier: MIT */
/* Protected mode, CPL0, with the in-kernel irqchip and PIT, for snapshot tests.
 * EBX 1: set the PIC masks (CL master, CH slave), the LAPIC TPR (EDX) and
 * spurious vector register (ESI), and PIT channel 0's mode (control word in
 * AL of EDI, count 0x1000). Otherwise: read them back to 0x7000 (masks at +0
 * and +1, TPR at +4, SVR at +8, channel 0 status byte at +12). Then status
 * 0x77 through a debug-exit register at MMIO 0xd0002000. */
    .code32
    .section .text.start, "ax"
    .globl _start
_start:
    cmp $1, %ebx
    jne 2f
    mov %cl, %al
    outb %al, $0x21
    mov %ch, %al
    outb %al, $0xa1
    mov %edx, 0xfee00080
    mov %esi, 0xfee000f0
    mov %edi, %eax
    outb %al, $0x43
    xor %al, %al
    outb %al, $0x40
    mov $0x10, %al
    outb %al, $0x40
    jmp 3f
2:  inb $0x21, %al
    mov %al, 0x7000
    inb $0xa1, %al
    mov %al, 0x7001
    mov 0xfee00080, %eax
    mov %eax, 0x7004
    mov 0xfee000f0, %eax
    mov %eax, 0x7008
    mov $0xe2, %al              /* read-back: latch channel 0's status */
    outb %al, $0x43
    inb $0x40, %al
    mov %al, 0x700c
3:  movb $0x77, 0xd0002000
    hlt
    .section .note.GNU-stack, "", @progbits
