/* SPDX-License-Identifier: MIT */
/* CPL3, for the snapshot test of guest page-table changes: reports the quadword
 * at virtual 2 MiB by an MMIO write to 0xd0000000, reads a command at
 * 0xd0000008 (answered by the host), and on a nonzero command points the 2 MiB
 * page directory entry at physical 0 (copying entry 0 of the page directory
 * vmm_x86_setup() wrote at 0xc000), then loops. The tables are user-writable
 * at CPL3. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov $0xd0000000, %ecx
1:  mov 0x200000, %rax
    mov %rax, (%rcx)
    mov 8(%rcx), %rax
    test %rax, %rax
    jz 1b
    mov 0xc000, %rax
    mov %rax, 0xc008
    jmp 1b
    .section .note.GNU-stack, "", @progbits
