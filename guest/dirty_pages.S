/* SPDX-License-Identifier: MIT */
/* CPL3 long-mode reset target for bench_reset (which also runs these bytes
 * under Unicorn). Input at 0x7000: eight u64, in[0] = n, in[1] = stride,
 * in[2] = spin, in[3..7] = key. Writes one byte ((i & 0x7f) | 0x80, never 0)
 * at 0x100000 + i * stride for i < n, then runs `spin` rounds of
 *     x ^= in[x >> 61]; x = x * 6364136223846793005 + 1442695040888963407;
 *     if (x & (1 << 17)) x = rol(x, 13);
 * from x = 0 (9 or 10 instructions a round: a load, a multiply, a
 * data-dependent branch), and ends with a 32-bit store of
 * (pages written) ^ (x >> 32) to a debug-exit register at MMIO 0xd0000000,
 * followed by `jmp .`, the last instruction of the image. Writes no other
 * memory: no stack, no page tables. */
    .code64
    .section .text.start, "ax"
    .globl _start
_start:
    mov 0x7000, %rcx            /* n */
    mov 0x7008, %rdx            /* stride */
    mov 0x7010, %r8             /* spin */
    mov $0x100000, %edi
    xor %eax, %eax              /* pages written */
    test %rcx, %rcx
    jz 2f
1:  mov %eax, %esi
    and $0x7f, %esi
    or $0x80, %esi
    mov %sil, (%rdi)
    add %rdx, %rdi
    inc %eax
    dec %rcx
    jnz 1b
2:  xor %r9d, %r9d
    movabs $6364136223846793005, %r10
    movabs $1442695040888963407, %r11
    test %r8, %r8
    jz 4f
3:  mov %r9, %rsi
    shr $61, %rsi
    xor 0x7000(,%rsi,8), %r9
    imul %r10, %r9
    add %r11, %r9
    bt $17, %r9
    jnc 6f
    rol $13, %r9
6:  dec %r8
    jnz 3b
4:  shr $32, %r9
    xor %r9d, %eax
    mov $0xd0000000, %ecx       /* absolute disp32 would sign-extend: use a register */
    mov %eax, (%rcx)
5:  jmp 5b
    .section .note.GNU-stack, "", @progbits
