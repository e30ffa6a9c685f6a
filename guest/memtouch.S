/* SPDX-License-Identifier: MIT */
/* Long mode, CPL0: writes two pages of a dirty-logged region at 4 MiB, reads a
 * read-only region at 5 MiB, tries to write it (an MMIO exit, since the guest
 * may not write there), and reports the byte it read through debug-exit. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov $0x400000, %edi
    movl $1, (%rdi)             /* page 0 of the dirty-logged region */
    movl $2, 0x3000(%rdi)       /* page 3 */
    mov $0x500000, %esi
    movzbl (%rsi), %eax         /* read the ROM */
    movb $0x77, (%rsi)          /* write the ROM: exits to the host */
    mov $0xf4, %dx
    outb %al, %dx
    hlt
    .section .note.GNU-stack, "", @progbits
