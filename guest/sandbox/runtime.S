/* SPDX-License-Identifier: MIT */
/* The sandbox's guest runtime: CPL 0 start-up, system-call entry and exception
 * stubs. Assembled into libvmm as read-only data (vmm__sbx_runtime) and copied
 * to guest address RT_BASE; every address in it is a constant, so it needs no
 * relocation. Its layout is shared with lib/sandbox/sandbox.c (RT_* below).
 *
 * On shadow-paging hosts code at CPL 0 is emulated instruction by
 * instruction, so the per-system-call path is four instructions: the OUT that
 * hands the call to the host, which answers in the mailbox, then two loads
 * and an IRETQ back to the program. */

#define RT_BASE     0x1000
#define KSTACK_TOP  0x4000
#define PORT        0xee   /* the host's system-call port */
#define EXC_PORT    0xef   /* exception reports, decoded by the vCPU loop */

/* Offsets inside the blob (RT_BASE + offset is the guest address). The
 * first page holds the start-up and system-call code and the mailbox: the
 * host maps it user-readable and read-only, because KVM on PVM runs the
 * system-call path (from `syscall` to IRETQ) with user-mode page
 * permissions. The second page, kernel-only, holds the descriptor tables and
 * the exception stubs (which PVM will not run from a user page). */
#define OFF_START   0x000
#define OFF_SYSCALL 0x080
#define OFF_MBOX    0x100  /* mailbox: the RAX to return */
/* The IRETQ frame (RIP, CS, RFLAGS, RSP, SS) sits at the top of the kernel
 * stack, so RSP is back at the top after each IRETQ to CPL 3: PVM keeps the
 * supervisor RSP of that moment for the next event from user mode (it does
 * not use TSS.RSP0). */
#define FRAME       (KSTACK_TOP - 40)
#define OFF_GDT     0x1000
#define OFF_GDTR    0x1040
#define OFF_IDTR    0x1050
#define OFF_IDT     0x1100 /* 32 gates of 16 bytes */
#define OFF_TSS     0x1300
#define OFF_STUBS   0x1400 /* 32 stubs of 16 bytes */
#define TSS_LIMIT   (104 + 33 - 1)
#define OFF_END     0x1600

#define SEL_KCODE   0x08
#define SEL_KDATA   0x10
#define SEL_USER    0x18   /* STAR's SYSRET base: user SS = 0x20|3, CS = 0x28|3 */
#define SEL_TSS     0x30

#define MSR_STAR    0xc0000081
#define MSR_LSTAR   0xc0000082
#define MSR_SFMASK  0xc0000084
/* RFLAGS bits cleared on `syscall`: TF, IF, DF, IOPL, NT, AC (as Linux does). */
#define SFMASK      0x47700

    .section .rodata.vmm_sbx_runtime, "a"
    .balign 4096
    .globl vmm__sbx_runtime
    .hidden vmm__sbx_runtime
    .globl vmm__sbx_runtime_size
    .hidden vmm__sbx_runtime_size
    .code64
vmm__sbx_runtime:

    /* Start-up, entered at CPL 0 in long mode with the host's page tables. */
    .org OFF_START
    lgdt RT_BASE + OFF_GDTR
    lidt RT_BASE + OFF_IDTR
    mov $SEL_TSS, %ax
    ltr %ax
    mov $MSR_STAR, %ecx
    xor %eax, %eax
    mov $((SEL_USER << 16) | SEL_KCODE), %edx
    wrmsr
    mov $MSR_LSTAR, %ecx
    mov $(RT_BASE + OFF_SYSCALL), %eax
    xor %edx, %edx
    wrmsr
    mov $MSR_SFMASK, %ecx
    mov $SFMASK, %eax
    wrmsr
    /* Ready: the host takes its snapshot here, so every run starts at the IRETQ. */
    out %al, $PORT
    mov $FRAME, %rsp
    iretq

    /* System-call entry (LSTAR): RCX = the program's RIP, R11 = its RFLAGS,
     * RSP still its stack. The host reads the registers at the OUT exit,
     * answers, and writes RAX and the frame into the mailbox. */
    .org OFF_SYSCALL
    out %al, $PORT
    mov RT_BASE + OFF_MBOX, %rax
    mov $FRAME, %rsp
    iretq

    .org OFF_MBOX
    .quad 0

    /* GDT; accessed bits preset so loading a segment never writes it. */
    .org OFF_GDT
    .quad 0
    .quad 0x00af9b000000ffff /* 0x08 kernel code, 64-bit */
    .quad 0x00cf93000000ffff /* 0x10 kernel data */
    .quad 0x00cffb000000ffff /* 0x18 user code, 32-bit (unused; SYSRET's layout) */
    .quad 0x00cff3000000ffff /* 0x20 user data */
    .quad 0x00affb000000ffff /* 0x28 user code, 64-bit */
    /* 0x30 TSS (available 64-bit TSS, 104 bytes and a 33-byte I/O bitmap) */
    .word TSS_LIMIT
    .word (RT_BASE + OFF_TSS) & 0xffff
    .byte ((RT_BASE + OFF_TSS) >> 16) & 0xff
    .byte 0x89
    .byte 0
    .byte ((RT_BASE + OFF_TSS) >> 24) & 0xff
    .long 0
    .long 0

    .org OFF_GDTR
    .word 0x3f
    .quad RT_BASE + OFF_GDT
    .org OFF_IDTR
    .word 32 * 16 - 1
    .quad RT_BASE + OFF_IDT

    /* IDT: interrupt gates at CPL 0; int3 and into (3, 4) callable from CPL 3. */
    .macro gate v
    .org OFF_IDT + \v * 16
    .word (RT_BASE + OFF_STUBS + \v * 16) & 0xffff
    .word SEL_KCODE
    .byte 0
    .if \v == 3 || \v == 4
    .byte 0xee
    .else
    .byte 0x8e
    .endif
    .word ((RT_BASE + OFF_STUBS + \v * 16) >> 16) & 0xffff
    .long 0
    .long 0
    .endm
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    gate \v
    .endr

    /* TSS: RSP0 is the kernel stack an exception from CPL 3 switches to. Its
     * I/O bitmap allows port PORT alone: KVM on PVM checks the system-call
     * path's OUT against it as if it ran at CPL 3 (everything else stays
     * denied; the host also checks that the OUT came from OFF_SYSCALL). */
    .org OFF_TSS
    .long 0
    .quad KSTACK_TOP
    .fill 90, 1, 0
    .word 0x68 /* the I/O bitmap follows the 104-byte TSS */
    .fill PORT / 8, 1, 0xff
    .byte 0xff & ~(1 << (PORT % 8))
    .fill 31 - PORT / 8, 1, 0xff /* up to port 255, then the closing 0xff */
    .byte 0xff
tss_end:

    /* Exception stubs in the format the vCPU loop decodes into VMM_EXIT_FAULT
     * (lib/core/vcpu.c): push RAX, report the vector through EXC_PORT; on a
     * resume, drop the error code and return to the faulting instruction. */
    .macro stub v, err
    .org OFF_STUBS + \v * 16
    push %rax
    mov $\v, %al
    out %al, $EXC_PORT
    pop %rax
    .if \err
    add $8, %rsp
    .endif
    iretq
    .endm
    stub 0, 0
    stub 1, 0
    stub 2, 0
    stub 3, 0
    stub 4, 0
    stub 5, 0
    stub 6, 0
    stub 7, 0
    stub 8, 1
    stub 9, 0
    stub 10, 1
    stub 11, 1
    stub 12, 1
    stub 13, 1
    stub 14, 1
    stub 15, 0
    stub 16, 0
    stub 17, 1
    stub 18, 0
    stub 19, 0
    stub 20, 0
    stub 21, 1
    stub 22, 0
    stub 23, 0
    stub 24, 0
    stub 25, 0
    stub 26, 0
    stub 27, 0
    stub 28, 0
    stub 29, 1
    stub 30, 1
    stub 31, 0

    .org OFF_END
vmm__sbx_runtime_end:

    .balign 8
vmm__sbx_runtime_size:
    .quad vmm__sbx_runtime_end - vmm__sbx_runtime

    .section .note.GNU-stack, "", @progbits
