/* SPDX-License-Identifier: MIT */
/* Real mode with the in-kernel PIC: enable the 16550's receive interrupt on
 * IRQ 4, halt, and echo every received byte from the interrupt handler; on a
 * newline report status 0x55 through debug-exit. */
    .code16
    .section .text.start, "ax"
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %es
    movw $handler, %es:0x90      /* IVT entry of vector 0x24 (IRQ 4 after ICW2) */
    mov %cs, %ax
    mov %ax, %es:0x92
    mov $0x11, %al               /* ICW1: edge triggered, ICW4 follows */
    out %al, $0x20
    mov $0x20, %al               /* ICW2: vectors 0x20-0x27 */
    out %al, $0x21
    mov $0x04, %al               /* ICW3: slave on IRQ 2 */
    out %al, $0x21
    mov $0x01, %al               /* ICW4: 8086 mode */
    out %al, $0x21
    mov $0xef, %al               /* unmask IRQ 4 only */
    out %al, $0x21
    mov $0x3f9, %dx              /* IER: received data available */
    mov $0x01, %al
    out %al, %dx
    mov $0x3fc, %dx              /* MCR: OUT2 */
    mov $0x08, %al
    out %al, %dx
    sti
1:  hlt
    jmp 1b

handler:
    mov $0x3fd, %dx              /* LSR: drain every byte, the PIC is edge triggered */
    in %dx, %al
    test $1, %al
    jz 3f
    mov $0x3f8, %dx
    in %dx, %al
    out %al, %dx                 /* echo */
    cmp $0x0a, %al
    jne handler
    mov $0x55, %al
    out %al, $0xf4
3:  mov $0x20, %al               /* EOI */
    out %al, $0x20
    iret
    .section .note.GNU-stack, "", @progbits
