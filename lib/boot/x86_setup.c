/* SPDX-License-Identifier: MIT */
/* Put a vCPU into real, protected or long mode with library-built tables. */
#include <stddef.h>
#include <string.h>

#include "../core/internal.h"

#define CR0_PE         (1ull << 0)
#define CR0_MP         (1ull << 1)
#define CR0_ET         (1ull << 4)
#define CR0_NE         (1ull << 5)
#define CR0_WP         (1ull << 16)
#define CR0_PG         (1ull << 31)
#define CR4_PAE        (1ull << 5)
#define CR4_OSFXSR     (1ull << 9)
#define CR4_OSXMMEXCPT (1ull << 10)
#define EFER_SCE       (1ull << 0)
#define EFER_LME       (1ull << 8)
#define EFER_LMA       (1ull << 10)

#define GIB (1ull << 30)
/* Layout of the tables area (offsets from opts.tables). */
#define OFF_GDT  0x000
#define OFF_TSS  0x100
#define OFF_PML4 0x1000
#define OFF_PDPT 0x2000
#define OFF_PD   0x3000
#define TSS_SIZE 104
#define PTE_A    (1ull << 5)
#define PTE_D    (1ull << 6)

#define OFF_IDT   0x200  /* 32 gates: 512 bytes in long mode, 256 in protected mode */
#define OFF_STUBS 0x400  /* VMM__EXC_VECTORS stubs of VMM__EXC_STUB_SIZE bytes */
#define OFF_STACK 0x1000 /* top of the handlers' stack (grows down to 0x600) */

static const size_t setup_sizes[] = {0, offsetof(vmm_x86_setup_options, exceptions),
                                     sizeof(vmm_x86_setup_options)};

int vmm_x86_setup_options_init(vmm_x86_setup_options *opts, unsigned int version)
{
    static const vmm_x86_setup_options defaults = VMM_X86_SETUP_OPTIONS_INIT;
    return vmm__options_init(opts, version, &defaults, setup_sizes, VMM_X86_SETUP_OPTIONS_VERSION,
                             "vmm_x86_setup_options_init");
}

/* A flat 4 GiB code/data segment descriptor. */
static uint64_t gdt_entry(unsigned int type, unsigned int dpl, bool l, bool db)
{
    return 0xffffull | (0xfull << 48) |                 /* limit 0xfffff */
           ((uint64_t)(type | 0x10) << 40) |            /* S=1 and type */
           ((uint64_t)dpl << 45) | (1ull << 47) |       /* DPL, P */
           ((uint64_t)l << 53) | ((uint64_t)db << 54) | /* L, D/B */
           (1ull << 55);                                /* G */
}

vmm_segment vmm__x86_flat_seg(uint16_t sel, unsigned int type, unsigned int dpl, bool l, bool db)
{
    vmm_segment s = {0};
    s.base = 0;
    s.limit = 0xffffffffu;
    s.selector = sel;
    s.type = (uint8_t)type;
    s.present = 1;
    s.dpl = (uint8_t)dpl;
    s.db = db;
    s.s = 1;
    s.l = l;
    s.g = 1;
    return s;
}

void vmm__x86_system_segs(vmm_sregs *s, uint64_t tss, uint32_t limit, uint16_t sel)
{
    vmm_segment tr = {0};
    tr.base = tss;
    tr.limit = limit;
    tr.selector = sel;
    tr.type = 0xb; /* busy 32/64-bit TSS */
    tr.present = 1;
    s->tr = tr;
    vmm_segment ldt = {0};
    ldt.type = 2;
    ldt.present = 1;
    ldt.unusable = 1;
    s->ldt = ldt;
}

/* Into the first tables page: an IDT for vectors 0-31, a stub per vector that
 * reports it (push rax; mov $v, %al; out %al, $VMM__EXC_PORT; pop rax; drop
 * the error code; iret) and the stack the TSS gives CPL 0. */
static void write_exception_handlers(uint8_t *page, uint64_t tables, bool long_mode)
{
    for (unsigned int v = 0; v < VMM__EXC_VECTORS; v++) {
        uint8_t *stub = page + OFF_STUBS + v * VMM__EXC_STUB_SIZE;
        size_t n = 0;
        stub[n++] = 0x50; /* push %rax / %eax */
        stub[n++] = 0xb0; /* mov $v, %al */
        stub[n++] = (uint8_t)v;
        stub[n++] = 0xe6; /* out %al, $port */
        stub[n++] = VMM__EXC_PORT;
        stub[n++] = 0x58; /* pop %rax / %eax */
        if (vmm__x86_has_error_code(v)) {
            if (long_mode)
                stub[n++] = 0x48; /* REX.W */
            stub[n++] = 0x83;     /* add $w, %rsp / %esp */
            stub[n++] = 0xc4;
            stub[n++] = long_mode ? 8 : 4;
        }
        if (long_mode)
            stub[n++] = 0x48; /* iretq */
        stub[n++] = 0xcf;
        uint64_t h = tables + OFF_STUBS + v * VMM__EXC_STUB_SIZE;
        /* Interrupt gate (type 0xe), present; DPL 3 for int3 and into. */
        uint64_t dpl = (v == 3 || v == 4) ? 3 : 0;
        uint16_t sel = long_mode ? VMM_X86_SEL_CODE64 : VMM_X86_SEL_CODE32;
        uint64_t lo = (h & 0xffff) | ((uint64_t)sel << 16) | (0xeull << 40) | (dpl << 45) |
                      (1ull << 47) | ((h >> 16 & 0xffff) << 48);
        if (long_mode) {
            uint64_t hi = h >> 32;
            memcpy(page + OFF_IDT + v * 16, &lo, 8);
            memcpy(page + OFF_IDT + v * 16 + 8, &hi, 8);
        } else {
            memcpy(page + OFF_IDT + v * 8, &lo, 8);
        }
    }
    uint64_t sp = tables + OFF_STACK;
    if (long_mode) {
        memcpy(page + OFF_TSS + 4, &sp, 8); /* RSP0 */
    } else {
        uint32_t esp0 = (uint32_t)sp, ss0 = VMM_X86_SEL_DATA;
        memcpy(page + OFF_TSS + 4, &esp0, 4);
        memcpy(page + OFF_TSS + 8, &ss0, 4);
    }
}

static int write_tables(vmm_vm *vm, const vmm_x86_setup_options *o, bool long_mode)
{
    uint8_t page[VMM_PAGE_SIZE];
    memset(page, 0, sizeof page);
    uint64_t gdt[10] = {
        0,
        gdt_entry(0xb, 0, true, false), /* 0x08 code64 */
        gdt_entry(0xb, 0, false, true), /* 0x10 code32 */
        gdt_entry(0x3, 0, false, true), /* 0x18 data */
        gdt_entry(0x3, 3, false, true), /* 0x20 user data */
        gdt_entry(0xb, 3, true, false), /* 0x28 user code64 */
        gdt_entry(0xb, 3, false, true), /* 0x30 user code32 */
    };
    /* 0x38: TSS descriptor, busy (type 0xb); 16 bytes in long mode. */
    uint64_t tss = o->tables + OFF_TSS;
    gdt[7] = (TSS_SIZE - 1) | ((tss & 0xffffff) << 16) | (0xbull << 40) | (1ull << 47) |
             ((tss >> 24 & 0xff) << 56);
    gdt[8] = long_mode ? tss >> 32 : 0;
    memcpy(page + OFF_GDT, gdt, sizeof gdt);
    /* TSS: no I/O permission bitmap (its offset points past the limit). */
    uint16_t iopb = TSS_SIZE;
    memcpy(page + OFF_TSS + 102, &iopb, 2);
    if (o->exceptions == VMM_X86_EXCEPTIONS_REPORT)
        write_exception_handlers(page, o->tables, long_mode);
    int rc = vmm_mem_write(vm, o->tables, page, sizeof page);
    if (rc < 0 || !long_mode)
        return rc;

    /* Identity map with 2 MiB pages: PML4[0] -> PDPT, PDPT[i] -> PD i. */
    uint64_t user = o->cpl == 3 ? 4 : 0;
    unsigned int gibs = (unsigned int)(o->identity_map_size / GIB);
    memset(page, 0, sizeof page);
    /* Accessed (and, in leaves, dirty) bits are set up front: the CPU would
     * set them on first use, making the tables differ from a snapshot taken
     * before the first run (and so dropping shadow page tables on restore). */
    uint64_t e = (o->tables + OFF_PDPT) | 3 | user | PTE_A;
    memcpy(page, &e, 8);
    if ((rc = vmm_mem_write(vm, o->tables + OFF_PML4, page, sizeof page)) < 0)
        return rc;
    memset(page, 0, sizeof page);
    for (unsigned int i = 0; i < gibs; i++) {
        e = (o->tables + OFF_PD + i * VMM_PAGE_SIZE) | 3 | user | PTE_A;
        memcpy(page + i * 8, &e, 8);
    }
    if ((rc = vmm_mem_write(vm, o->tables + OFF_PDPT, page, sizeof page)) < 0)
        return rc;
    for (unsigned int i = 0; i < gibs; i++) {
        for (unsigned int j = 0; j < 512; j++) {
            e = ((uint64_t)i * GIB + (uint64_t)j * (2u << 20)) | 0x83 | user | PTE_A |
                PTE_D; /* P, W, PS */
            memcpy(page + j * 8, &e, 8);
        }
        if ((rc = vmm_mem_write(vm, o->tables + OFF_PD + i * VMM_PAGE_SIZE, page, sizeof page)) < 0)
            return rc;
    }
    return 0;
}

/* The options' own rules, and (protected and long mode) that the tables fit
 * where they go. */
static int check_options(vmm_vcpu *v, const vmm_x86_setup_options *o)
{
    if (o->mode != VMM_X86_REAL && o->mode != VMM_X86_PROTECTED && o->mode != VMM_X86_LONG)
        return vmm__err(VMM_EINVAL, "vmm_x86_setup: unknown mode %d", (int)o->mode);
    if (o->cpl != 0 && o->cpl != 3)
        return vmm__err(VMM_EINVAL, "vmm_x86_setup: cpl must be 0 or 3, not %u", o->cpl);
    if (o->mode == VMM_X86_REAL && o->cpl != 0)
        return vmm__err(VMM_EINVAL, "vmm_x86_setup: real mode has no CPL 3");
    if (o->exceptions != VMM_X86_EXCEPTIONS_NONE && o->exceptions != VMM_X86_EXCEPTIONS_REPORT)
        return vmm__err(VMM_EINVAL, "vmm_x86_setup: unknown exceptions mode %d",
                        (int)o->exceptions);
    if (o->mode == VMM_X86_REAL && o->exceptions != VMM_X86_EXCEPTIONS_NONE)
        return vmm__err(VMM_EINVAL, "vmm_x86_setup: exception reporting needs protected or long "
                                    "mode");
    if (o->mode == VMM_X86_REAL && (o->entry >= 0x100000 || o->stack > 0xffff))
        return vmm__err(VMM_EINVAL, "vmm_x86_setup: real-mode entry must be below 1 MiB and the "
                                    "stack below 64 KiB");
    if (o->mode == VMM_X86_PROTECTED && (o->entry > 0xffffffffull || o->stack > 0xffffffffull))
        return vmm__err(VMM_EINVAL, "vmm_x86_setup: protected-mode entry and stack must be 32-bit");
    if (o->mode == VMM_X86_REAL)
        return 0;
    if (o->tables & (VMM_PAGE_SIZE - 1))
        return vmm__err(VMM_EINVAL, "vmm_x86_setup: tables address 0x%llx not page aligned",
                        (unsigned long long)o->tables);
    void *p;
    uint64_t need = o->mode == VMM_X86_LONG ? OFF_PD + (o->identity_map_size / GIB) * VMM_PAGE_SIZE
                                            : VMM_PAGE_SIZE;
    if (o->mode == VMM_X86_LONG &&
        (o->identity_map_size == 0 || o->identity_map_size % GIB || o->identity_map_size > 4 * GIB))
        return vmm__err(VMM_EINVAL,
                        "vmm_x86_setup: identity_map_size must be 1-4 GiB in whole GiB");
    if (o->mode == VMM_X86_PROTECTED && o->tables > 0xffffffffull - need)
        return vmm__err(VMM_EINVAL, "vmm_x86_setup: tables at 0x%llx are not below 4 GiB",
                        (unsigned long long)o->tables);
    /* The GDT and TSS are reached through the identity map once paging is on. */
    if (o->mode == VMM_X86_LONG && o->tables + VMM_PAGE_SIZE > o->identity_map_size)
        return vmm__err(VMM_EINVAL,
                        "vmm_x86_setup: tables at 0x%llx lie outside the identity map "
                        "(0x%llx bytes)",
                        (unsigned long long)o->tables, (unsigned long long)o->identity_map_size);
    if (vmm_mem_host_ptr(v->vm, o->tables, need, &p) < 0)
        return vmm__err(VMM_EFAULT, "vmm_x86_setup: tables at 0x%llx (+0x%llx) not in RAM",
                        (unsigned long long)o->tables, (unsigned long long)need);
    return 0;
}

/* Real mode, built from scratch (not from the current state, which may be a
 * CPL3 set-up): 64 KiB read/write data segments and a code segment at
 * entry's 64 KiB block, as after a far jump in real mode. */
static void real_mode(const vmm_x86_setup_options *o, vmm_sregs *s, vmm_regs *r)
{
    vmm_segment d = {0};
    d.limit = 0xffff;
    d.type = 0x3;
    d.present = 1;
    d.s = 1;
    vmm_segment cs = d;
    cs.type = 0xb;
    cs.base = o->entry & 0xf0000;
    cs.selector = (uint16_t)(cs.base >> 4);
    s->cs = cs;
    s->ds = s->es = s->fs = s->gs = s->ss = d;
    vmm_segment tr = {0};
    tr.limit = 0xffff;
    tr.type = 0xb;
    tr.present = 1;
    s->tr = tr;
    vmm_segment ldt = {0};
    ldt.limit = 0xffff;
    ldt.type = 2;
    ldt.present = 1;
    s->ldt = ldt;
    s->gdt = (vmm_dtable){0, 0xffff};
    s->idt = (vmm_dtable){0, 0x3ff};
    s->cr0 = CR0_ET;
    s->cr3 = 0;
    s->cr4 = 0;
    s->efer = 0;
    r->rip = o->entry & 0xffff;
}

/* Protected or long mode at o->cpl over the tables write_tables() made:
 * flat segments, the GDT, the IDT when exceptions are reported, TR, the
 * control registers (and in long mode paging over the identity map). */
static void paged_mode(const vmm_x86_setup_options *o, vmm_sregs *s, vmm_regs *r)
{
    bool lm = o->mode == VMM_X86_LONG;
    unsigned int cpl = o->cpl;
    uint16_t rpl = (uint16_t)cpl;
    uint16_t csel = lm ? (cpl ? VMM_X86_SEL_UCODE64 : VMM_X86_SEL_CODE64)
                       : (cpl ? VMM_X86_SEL_UCODE32 : VMM_X86_SEL_CODE32);
    uint16_t dsel = cpl ? VMM_X86_SEL_UDATA : VMM_X86_SEL_DATA;
    s->cs = vmm__x86_flat_seg(csel | rpl, 0xb, cpl, lm, !lm);
    s->ds = s->es = s->fs = s->gs = s->ss = vmm__x86_flat_seg(dsel | rpl, 0x3, cpl, false, true);
    s->gdt.base = o->tables + OFF_GDT;
    s->gdt.limit = (lm ? 9 : 8) * 8 - 1;
    s->idt.base = 0;
    s->idt.limit = 0;
    if (o->exceptions == VMM_X86_EXCEPTIONS_REPORT) {
        s->idt.base = o->tables + OFF_IDT;
        s->idt.limit = (uint16_t)(VMM__EXC_VECTORS * (lm ? 16 : 8) - 1);
    }
    vmm__x86_system_segs(s, o->tables + OFF_TSS, TSS_SIZE - 1, VMM_X86_SEL_TSS);
    s->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE;
    s->cr4 = CR4_OSFXSR | CR4_OSXMMEXCPT;
    s->efer = 0;
    if (lm) {
        s->cr0 |= CR0_WP | CR0_PG;
        s->cr4 |= CR4_PAE;
        s->cr3 = o->tables + OFF_PML4;
        s->efer = EFER_SCE | EFER_LME | EFER_LMA;
    }
    r->rip = o->entry;
}

int vmm_x86_setup(vmm_vcpu *v, const vmm_x86_setup_options *opts)
{
    if (!v || !opts)
        return vmm__err(VMM_EINVAL, "vmm_x86_setup: NULL argument");
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    int rc = vmm__options_copy(&o, sizeof o, opts, setup_sizes, VMM_X86_SETUP_OPTIONS_VERSION,
                               "vmm_x86_setup_options");
    if (rc < 0 || (rc = check_options(v, &o)) < 0)
        return rc;
    vmm_sregs s;
    if ((rc = vmm_vcpu_get_sregs(v, &s)) < 0)
        return rc;
    vmm_regs r;
    memset(&r, 0, sizeof r);
    r.rflags = 0x2;
    r.rsp = o.stack;
    if (o.mode == VMM_X86_REAL) {
        real_mode(&o, &s, &r);
    } else {
        if ((rc = write_tables(v->vm, &o, o.mode == VMM_X86_LONG)) < 0)
            return rc;
        paged_mode(&o, &s, &r);
    }
    if ((rc = vmm_vcpu_set_sregs(v, &s)) < 0 || (rc = vmm_vcpu_set_regs(v, &r)) < 0)
        return rc;
    v->exc_bits = 0;
    if (o.exceptions == VMM_X86_EXCEPTIONS_REPORT) {
        v->exc_bits = o.mode == VMM_X86_LONG ? 64 : 32;
        v->exc_stubs = o.tables + OFF_STUBS;
    }
    return 0;
}
