/* SPDX-License-Identifier: MIT */
/* Real mode with the in-kernel PIC: a virtio-rng at MMIO 0xa0000 on IRQ 5,
 * the line made level-triggered (ELCR), one request. The interrupt handler
 * counts; the first time it only sends the EOI (InterruptStatus stays set, so
 * a level line must come back), the second time it acknowledges
 * (InterruptACK) and then sends the EOI (the line must stay low). After the
 * second interrupt and a pause with interrupts enabled, the results go to
 * 0x500: the count (16 bits), the PIC's IRR and ISR, the device's
 * InterruptStatus (32 bits at 0x504), the used ring's idx (16 bits at 0x508);
 * then status 0x55 through debug-exit at port 0xf4. */
    .code16
    .section .text.start, "ax"
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    movw $handler, 0x94          /* IVT entry of vector 0x25 (IRQ 5 after ICW2) */
    mov %cs, %ax
    mov %ax, 0x96
    mov $0x11, %al               /* ICW1, ICW4 follows */
    out %al, $0x20
    mov $0x20, %al               /* ICW2: vectors 0x20-0x27 */
    out %al, $0x21
    mov $0x04, %al               /* ICW3: slave on IRQ 2 */
    out %al, $0x21
    mov $0x01, %al               /* ICW4: 8086 mode */
    out %al, $0x21
    mov $0xdf, %al               /* unmask IRQ 5 only */
    out %al, $0x21
    mov $0x20, %al               /* ELCR: IRQ 5 level-triggered */
    mov $0x4d0, %dx
    out %al, %dx

    /* virtio 1.2 §3.1.1 and §4.2.3.2: one queue of 8 at 0x30000. */
    mov $0xa000, %ax
    mov %ax, %es
    mov $0x3000, %ax
    mov %ax, %fs
    movl $0, %es:0x70
    movl $3, %es:0x70            /* ACKNOWLEDGE | DRIVER */
    movl $1, %es:0x24
    movl $1, %es:0x20            /* VIRTIO_F_VERSION_1 */
    movl $0, %es:0x24
    movl $0, %es:0x20
    movl $11, %es:0x70           /* | FEATURES_OK */
    movl $0, %es:0x30
    movl $8, %es:0x38
    movl $0x30000, %es:0x80
    movl $0, %es:0x84
    movl $0x31000, %es:0x90
    movl $0, %es:0x94
    movl $0x32000, %es:0xa0
    movl $0, %es:0xa4
    movl $1, %es:0x44
    movl $15, %es:0x70           /* | DRIVER_OK */
    /* Descriptor 0: 16 device-writable bytes at 0x33000; avail ring [0]. */
    movl $0x33000, %fs:0
    movl $0, %fs:4
    movl $16, %fs:8
    movw $2, %fs:12
    movw $0, %fs:14
    movw $0, %fs:0x1004
    movw $1, %fs:0x1002
    sti
    movl $0, %es:0x50            /* QueueNotify 0 */

    /* Wait for the second interrupt, halted between interrupts (the test's
     * time budget bounds the wait), then a pause for a third. A halted vCPU
     * lets the host run what raises the line: with an irqfd, KVM injects a
     * PIC route from a workqueue and libvmm re-asserts the line from its I/O
     * thread, which on a host with one CPU run only when the vCPU yields. A
     * counted spin was a time limit in disguise. STI's interrupt shadow
     * covers HLT, so no wake-up is lost between the check and the halt. */
1:  cli
    cmpw $2, %cs:count
    jae 2f
    sti
    hlt
    jmp 1b
2:  sti
    mov $40000, %ecx
3:  dec %ecx
    jnz 3b
    cli
    mov %cs:count, %ax
    mov %ax, 0x500
    mov $0x0a, %al               /* OCW3: read IRR */
    out %al, $0x20
    in $0x20, %al
    mov %al, 0x502
    mov $0x0b, %al               /* OCW3: read ISR */
    out %al, $0x20
    in $0x20, %al
    mov %al, 0x503
    movl %es:0x60, %eax
    movl %eax, 0x504
    movw %fs:0x2002, %ax
    mov %ax, 0x508
    mov $0x55, %al
    out %al, $0xf4
4:  hlt
    jmp 4b

handler:
    push %eax
    incw %cs:count
    cmpw $1, %cs:count
    je 5f                        /* the first time: EOI only */
    movl %es:0x60, %eax          /* InterruptStatus */
    movl %eax, %es:0x64          /* InterruptACK */
5:  mov $0x20, %al               /* EOI */
    out %al, $0x20
    pop %eax
    iret

count:
    .word 0
    .section .note.GNU-stack, "", @progbits
