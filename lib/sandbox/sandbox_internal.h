/* SPDX-License-Identifier: MIT */
/* Sandbox internals: the guest memory layout, the ELF image check and the
 * initial stack, testable without a VM. */
#ifndef LIBVMM_SANDBOX_INTERNAL_H
#define LIBVMM_SANDBOX_INTERNAL_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

#include "../core/internal.h"

/* Guest memory layout (identity-mapped; see sandbox.h). */
#define VMM__SBX_RT_BASE    0x1000ull /* the runtime: a code page, then a data page */
#define VMM__SBX_KSTACK_TOP 0x4000ull /* kernel stack page 0x3000-0x3fff */
#define VMM__SBX_PML4       0x4000ull /* PML4, PDPT, the PT of the first 2 MiB */
#define VMM__SBX_PDPT       0x5000ull
#define VMM__SBX_PT0        0x6000ull
#define VMM__SBX_PD         0x7000ull  /* one page directory per GiB, up to 4 */
#define VMM__SBX_USER_LO    0x10000ull /* the program's memory starts here */
#define VMM__SBX_PIE_BASE   0x400000ull
#define VMM__SBX_LARGE_PAGE 0x200000ull
#define VMM__SBX_MIN_MEMORY (8ull << 20)
#define VMM__SBX_MAX_MEMORY (3ull << 30)
/* The runtime's OUT port: system calls and the start-up report. */
#define VMM__SBX_PORT 0xee

/* Most PT_LOAD segments accepted, and the cap on argv + envp. */
#define VMM__SBX_MAX_SEGS      16
#define VMM__SBX_MAX_PHDRS     64
#define VMM__SBX_MAX_ARG_BYTES (256u << 10)
#define VMM__SBX_MAX_ARGS      4096u

/* A loadable segment, at its final (relocated) guest address. */
struct vmm__sbx_seg {
    uint64_t offset; /* in the file; offset + filesz <= file length */
    uint64_t filesz; /* <= memsz */
    uint64_t vaddr;  /* guest address (load bias applied) */
    uint64_t memsz;  /* > 0; the tail after filesz is zero */
};

/* A checked ELF image, placed in guest memory. */
struct vmm__sbx_image {
    uint64_t entry;  /* relocated e_entry, inside an executable segment */
    uint64_t bias;   /* 0 for ET_EXEC, VMM__SBX_PIE_BASE for static-PIE */
    uint64_t phdr;   /* guest address of the program headers (AT_PHDR) */
    uint16_t phnum;  /* AT_PHNUM */
    uint64_t lo, hi; /* page-rounded span of all segments: [lo, hi) */
    size_t nsegs;
    struct vmm__sbx_seg segs[VMM__SBX_MAX_SEGS];
};

/* Check an ELF file image for the sandbox: ELF64, little-endian, x86-64,
 * ET_EXEC or ET_DYN (static-PIE, loaded at VMM__SBX_PIE_BASE), no PT_INTERP,
 * 1..VMM__SBX_MAX_SEGS non-empty PT_LOAD segments, each within the file and,
 * once placed, within [user_lo, user_hi), page-congruent (p_offset and p_vaddr
 * equal modulo 4096) and not overlapping another; the entry point inside an
 * executable segment; the program headers inside a loaded segment. Pure: reads
 * only buf. Returns 0, or VMM_EINVAL / VMM_ENOMEM (does not fit) with a
 * message naming the problem. */
VMM__HIDDEN int vmm__sbx_elf_check(const uint8_t *buf, size_t len, uint64_t user_lo,
                                   uint64_t user_hi, struct vmm__sbx_image *img);

/* Lay out the initial stack as Linux does for a new program, at the top of
 * the stack area [stack_lo, stack_top) whose bytes are mem[0 .. stack_top -
 * stack_lo): strings (argv, envp, AT_EXECFN, AT_PLATFORM) and 16 random bytes
 * at the top, then, 16-byte aligned, argc, argv[], NULL, envp[], NULL, auxv
 * pairs ending with AT_NULL. argv must hold at least one string. Returns 0
 * with the initial RSP (pointing at argc) in *rsp; VMM_ERANGE when argv and
 * envp together exceed VMM__SBX_MAX_ARG_BYTES or VMM__SBX_MAX_ARGS strings,
 * VMM_ENOMEM when they do not fit in the area, VMM_EINVAL for an empty argv. */
VMM__HIDDEN int vmm__sbx_build_stack(uint8_t *mem, uint64_t stack_lo, uint64_t stack_top,
                                     const struct vmm__sbx_image *img, const char *const *argv,
                                     const char *const *envp, const uint8_t random16[16],
                                     uint64_t *rsp);

/* ---- the sandbox object (sandbox.c, sandbox_syscall.c) ---- */
#include <libvmm/sandbox.h>

/* Runtime blob offsets (guest/sandbox/runtime.S). */
#define VMM__SBX_OFF_READY   0x3f /* the start-up OUT */
#define VMM__SBX_OFF_SYSCALL 0x80 /* the system-call OUT */
#define VMM__SBX_OFF_STUBS   0x1400
#define VMM__SBX_OFF_TSS     0x1300
#define VMM__SBX_OFF_MBOX    0x100 /* RAX to return */
/* The IRETQ frame (RIP, CS, RFLAGS, RSP, SS) at the top of the kernel stack. */
#define VMM__SBX_FRAME   (VMM__SBX_KSTACK_TOP - 40)
#define VMM__SBX_USER_CS 0x2b
#define VMM__SBX_USER_SS 0x23

extern VMM__HIDDEN const uint8_t vmm__sbx_runtime[];
extern VMM__HIDDEN const uint64_t vmm__sbx_runtime_size;

struct vmm__sbx_fn {
    char name[64];
    vmm_sandbox_fn fn;
    void *opaque;
};

/* Heap bookkeeping: brk grows up from heap_lo, mmap takes pages top-down
 * below heap_hi. Bitmaps have one bit per page of [heap_lo, heap_hi). */
struct vmm__sbx_mm {
    uint64_t heap_lo, heap_hi;
    uint64_t brk;     /* current break (byte address) */
    uint64_t *mapped; /* page taken by mmap */
    uint64_t *used;   /* page handed out since the last reset: zero it before reuse */
    size_t words;
};

enum vmm__sbx_state { SBX_EMPTY, SBX_READY, SBX_DONE };

struct vmm__sbx_out {
    char *buf;
    size_t len, cap;
};

struct vmm_sandbox {
    vmm_sandbox_options o;
    vmm_vm *vm;
    vmm_vcpu *vcpu;
    uint8_t *ram;      /* host view of guest RAM, for reads (writes go through the VM) */
    uint64_t stack_lo; /* the stack is [stack_lo, memory_size) */
    uint64_t guard_lo; /* unmapped guard [guard_lo, stack_lo) */
    enum vmm__sbx_state state;
    vmm_snapshot *snap;
    struct vmm__sbx_mm mm;
    struct vmm__sbx_out out[2];
    uint64_t out_total;
    uint8_t *in;
    size_t in_len, in_pos;
    struct vmm__sbx_fn *fns;
    size_t nfns;
    atomic_bool stop;
    struct vmm__ratelimit rl;
    vmm_sandbox_result *res; /* of the run in progress */
};

/* How a system call leaves the run. */
enum vmm__sbx_next { SBX_CONTINUE, SBX_END };

/* Answer one system call (callback, then the default policy); on SBX_END
 * res->outcome says why. <0: an error ends vmm_sandbox_run(). */
VMM__HIDDEN int vmm__sbx_syscall(vmm_sandbox *sb, vmm_sandbox_syscall *call);
VMM__HIDDEN int vmm__sbx_mm_init(vmm_sandbox *sb, uint64_t heap_lo, uint64_t heap_hi);
VMM__HIDDEN void vmm__sbx_mm_reset(vmm_sandbox *sb);
VMM__HIDDEN void vmm__sbx_mm_free(vmm_sandbox *sb);
/* The heap's system calls (sandbox_mm.c): Linux's result, or -errno. a holds
 * the call's six arguments. */
VMM__HIDDEN int64_t vmm__sbx_brk(vmm_sandbox *sb, uint64_t want);
VMM__HIDDEN int64_t vmm__sbx_mmap(vmm_sandbox *sb, const uint64_t *a);
VMM__HIDDEN int64_t vmm__sbx_munmap(vmm_sandbox *sb, uint64_t addr, uint64_t len);
VMM__HIDDEN int64_t vmm__sbx_mremap(vmm_sandbox *sb, const uint64_t *a);
/* Whether [gva, gva+len) lies in the program's memory. */
VMM__HIDDEN bool vmm__sbx_user_range(const vmm_sandbox *sb, uint64_t gva, uint64_t len);

#endif
