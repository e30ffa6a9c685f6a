/* SPDX-License-Identifier: MIT */
/* The KVM backend for x86-64: registers, segments, FPU, MSRs, guest
 * debugging, CPUID, and decoding an exit into a vmm_exit. With kvm.c and
 * kvm_x86_64_state.c, the only code that issues KVM ioctls. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/util.h"
#include "kvm.h"

int vmm__kvm_get_regs(struct vmm__hv_vcpu *v, vmm_regs *r)
{
    struct kvm_regs k;
    if (v->regs_synced)
        k = v->run->s.regs.regs;
    else if (ioctl(v->fd, KVM_GET_REGS, &k) < 0)
        return vmm__kvm_fail("KVM_GET_REGS");
    *r = (vmm_regs){k.rax, k.rbx, k.rcx, k.rdx, k.rsi, k.rdi, k.rsp, k.rbp, k.r8,
                    k.r9,  k.r10, k.r11, k.r12, k.r13, k.r14, k.r15, k.rip, k.rflags};
    return 0;
}

int vmm__kvm_set_regs(struct vmm__hv_vcpu *v, const vmm_regs *r)
{
    struct kvm_regs k = {r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp, r->rbp, r->r8,
                         r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15, r->rip, r->rflags};
    v->regs_synced = false;
    if (ioctl(v->fd, KVM_SET_REGS, &k) < 0)
        return vmm__kvm_fail("KVM_SET_REGS");
    return 0;
}

static void seg_from_kvm(vmm_segment *d, const struct kvm_segment *s)
{
    *d = (vmm_segment){s->base, s->limit, s->selector, s->type, s->present, s->dpl,
                       s->db,   s->s,     s->l,        s->g,    s->avl,     s->unusable};
}

static void seg_to_kvm(struct kvm_segment *d, const vmm_segment *s)
{
    memset(d, 0, sizeof *d);
    d->base = s->base;
    d->limit = s->limit;
    d->selector = s->selector;
    d->type = s->type;
    d->present = s->present;
    d->dpl = s->dpl;
    d->db = s->db;
    d->s = s->s;
    d->l = s->l;
    d->g = s->g;
    d->avl = s->avl;
    d->unusable = s->unusable;
}

int vmm__kvm_get_sregs(struct vmm__hv_vcpu *v, vmm_sregs *s)
{
    struct kvm_sregs k;
    if (ioctl(v->fd, KVM_GET_SREGS, &k) < 0)
        return vmm__kvm_fail("KVM_GET_SREGS");
    seg_from_kvm(&s->cs, &k.cs);
    seg_from_kvm(&s->ds, &k.ds);
    seg_from_kvm(&s->es, &k.es);
    seg_from_kvm(&s->fs, &k.fs);
    seg_from_kvm(&s->gs, &k.gs);
    seg_from_kvm(&s->ss, &k.ss);
    seg_from_kvm(&s->tr, &k.tr);
    seg_from_kvm(&s->ldt, &k.ldt);
    s->gdt = (vmm_dtable){k.gdt.base, k.gdt.limit};
    s->idt = (vmm_dtable){k.idt.base, k.idt.limit};
    s->cr0 = k.cr0;
    s->cr2 = k.cr2;
    s->cr3 = k.cr3;
    s->cr4 = k.cr4;
    s->cr8 = k.cr8;
    s->efer = k.efer;
    s->apic_base = k.apic_base;
    return 0;
}

int vmm__kvm_set_sregs(struct vmm__hv_vcpu *v, const vmm_sregs *s)
{
    struct kvm_sregs k;
    /* Start from the current state so the pending-interrupt bitmap is kept. */
    if (ioctl(v->fd, KVM_GET_SREGS, &k) < 0)
        return vmm__kvm_fail("KVM_GET_SREGS");
    seg_to_kvm(&k.cs, &s->cs);
    seg_to_kvm(&k.ds, &s->ds);
    seg_to_kvm(&k.es, &s->es);
    seg_to_kvm(&k.fs, &s->fs);
    seg_to_kvm(&k.gs, &s->gs);
    seg_to_kvm(&k.ss, &s->ss);
    seg_to_kvm(&k.tr, &s->tr);
    seg_to_kvm(&k.ldt, &s->ldt);
    k.gdt.base = s->gdt.base;
    k.gdt.limit = s->gdt.limit;
    k.idt.base = s->idt.base;
    k.idt.limit = s->idt.limit;
    k.cr0 = s->cr0;
    k.cr2 = s->cr2;
    k.cr3 = s->cr3;
    k.cr4 = s->cr4;
    k.cr8 = s->cr8;
    k.efer = s->efer;
    k.apic_base = s->apic_base;
    if (ioctl(v->fd, KVM_SET_SREGS, &k) < 0)
        return vmm__kvm_fail("KVM_SET_SREGS");
    return 0;
}

int vmm__kvm_get_fpu(struct vmm__hv_vcpu *v, vmm_fpu *f)
{
    struct kvm_fpu k;
    if (ioctl(v->fd, KVM_GET_FPU, &k) < 0)
        return vmm__kvm_fail("KVM_GET_FPU");
    memcpy(f->fpr, k.fpr, sizeof f->fpr);
    f->fcw = k.fcw;
    f->fsw = k.fsw;
    f->ftwx = k.ftwx;
    f->last_opcode = k.last_opcode;
    f->last_ip = k.last_ip;
    f->last_dp = k.last_dp;
    memcpy(f->xmm, k.xmm, sizeof f->xmm);
    f->mxcsr = k.mxcsr;
    /* KVM_GET_FPU leaves mxcsr out (KVM_SET_FPU does set it); the legacy area of
     * the XSAVE image has it at byte 24. */
    struct kvm_xsave *x = malloc(sizeof *x);
    if (!x)
        return vmm__err(VMM_ENOMEM, "XSAVE buffer: out of memory");
    int rc = 0;
    if (ioctl(v->fd, KVM_GET_XSAVE, x) == 0)
        memcpy(&f->mxcsr, (const uint8_t *)x->region + 24, sizeof f->mxcsr);
    else if (errno != EINVAL) /* EINVAL: no XSAVE on this host; KVM_GET_FPU is all there is */
        rc = vmm__kvm_fail("KVM_GET_XSAVE");
    free(x);
    return rc;
}

int vmm__kvm_set_fpu(struct vmm__hv_vcpu *v, const vmm_fpu *f)
{
    struct kvm_fpu k;
    memset(&k, 0, sizeof k);
    memcpy(k.fpr, f->fpr, sizeof k.fpr);
    k.fcw = f->fcw;
    k.fsw = f->fsw;
    k.ftwx = f->ftwx;
    k.last_opcode = f->last_opcode;
    k.last_ip = f->last_ip;
    k.last_dp = f->last_dp;
    memcpy(k.xmm, f->xmm, sizeof k.xmm);
    k.mxcsr = f->mxcsr;
    if (ioctl(v->fd, KVM_SET_FPU, &k) < 0)
        return vmm__kvm_fail("KVM_SET_FPU");
    /* KVM_SET_FPU does not load mxcsr on every kernel. Where XSAVE is
     * available, write the whole legacy area (FXSAVE layout: fcw 0, fsw 2, ftw 4,
     * fop 6, rip 8, rdp 16, mxcsr 24, st0-7 32, xmm0-15 160) into the XSAVE image
     * and mark x87 and SSE present in XSTATE_BV (byte 512): without those bits
     * KVM treats the components as being in their initial state. */
    struct kvm_xsave *x = malloc(sizeof *x);
    if (!x)
        return vmm__err(VMM_ENOMEM, "XSAVE buffer: out of memory");
    int rc = 0;
    if (ioctl(v->fd, KVM_GET_XSAVE, x) == 0) {
        uint8_t *r = (uint8_t *)x->region;
        memcpy(r + 0, &f->fcw, 2);
        memcpy(r + 2, &f->fsw, 2);
        r[4] = f->ftwx;
        memcpy(r + 6, &f->last_opcode, 2);
        memcpy(r + 8, &f->last_ip, 8);
        memcpy(r + 16, &f->last_dp, 8);
        memcpy(r + 24, &f->mxcsr, 4);
        memcpy(r + 32, f->fpr, sizeof f->fpr);
        memcpy(r + 160, f->xmm, sizeof f->xmm);
        r[512] |= 3;
        if (ioctl(v->fd, KVM_SET_XSAVE, x) < 0)
            rc = vmm__kvm_fail("KVM_SET_XSAVE");
    }
    free(x);
    return rc;
}

int vmm__kvm_msrs(struct vmm__hv_vcpu *v, vmm_msr *msrs, size_t n, bool set)
{
    struct kvm_msrs *m = calloc(1, sizeof *m + n * sizeof(struct kvm_msr_entry));
    if (!m)
        return vmm__err(VMM_ENOMEM, "MSR buffer: out of memory");
    m->nmsrs = (uint32_t)n;
    for (size_t i = 0; i < n; i++) {
        m->entries[i].index = msrs[i].index;
        m->entries[i].data = msrs[i].value;
    }
    /* Returns the number of MSRs processed; it stops at the first one KVM refuses. */
    int r = ioctl(v->fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, m);
    int rc = 0;
    if (r < 0) {
        rc = vmm__kvm_fail(set ? "KVM_SET_MSRS" : "KVM_GET_MSRS");
    } else {
        if (!set)
            for (int i = 0; i < r; i++)
                msrs[i].value = m->entries[i].data;
        if ((size_t)r < n)
            rc = vmm__err(VMM_ENOENT, "%s: KVM refused MSR 0x%x", set ? "set MSRs" : "get MSRs",
                          msrs[r].index);
    }
    free(m);
    return rc;
}

int vmm__kvm_guest_debug(struct vmm__hv_vcpu *v, bool enable, bool singlestep, bool sw_bp)
{
    struct kvm_guest_debug d;
    memset(&d, 0, sizeof d);
    if (enable)
        d.control = KVM_GUESTDBG_ENABLE | (singlestep ? KVM_GUESTDBG_SINGLESTEP : 0) |
                    (sw_bp ? KVM_GUESTDBG_USE_SW_BP : 0);
    if (ioctl(v->fd, KVM_SET_GUEST_DEBUG, &d) < 0)
        return vmm__kvm_fail("KVM_SET_GUEST_DEBUG");
    return 0;
}

/* KVM's supported CPUID set, fetched once per process. */
static struct {
    pthread_mutex_t lock;
    struct kvm_cpuid_entry2 *e;
    uint32_t n;
} supported = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

static int supported_cpuid(int kvm_fd)
{
    pthread_mutex_lock(&supported.lock);
    int rc = 0;
    if (!supported.e) {
        void *e;
        rc = vmm__kvm_get_list(kvm_fd, KVM_GET_SUPPORTED_CPUID, "KVM_GET_SUPPORTED_CPUID",
                               offsetof(struct kvm_cpuid2, entries),
                               sizeof(struct kvm_cpuid_entry2), 64, 4096, &e, &supported.n);
        if (rc == 0)
            supported.e = e;
    }
    pthread_mutex_unlock(&supported.lock);
    return rc;
}

int vmm__kvm_supported_cpuid(struct vmm__hv_vm *vm, vmm_cpuid_entry *e, size_t cap, size_t *count)
{
    int rc = supported_cpuid(vm->kvm_fd);
    if (rc < 0)
        return rc;
    *count = supported.n;
    if (cap < supported.n)
        return vmm__err(VMM_ERANGE, "the CPUID set has %u entries, room for %zu", supported.n, cap);
    for (uint32_t i = 0; i < supported.n; i++) {
        const struct kvm_cpuid_entry2 *k = &supported.e[i];
        e[i] = (vmm_cpuid_entry){
            k->function, k->index, k->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX ? 1u : 0u,
            k->eax,      k->ebx,   k->ecx,
            k->edx};
    }
    return 0;
}

int vmm__kvm_set_cpuid(struct vmm__hv_vcpu *v, const vmm_cpuid_entry *e, size_t n,
                       unsigned int apic_id)
{
    int rc;
    if (!e && (rc = supported_cpuid(v->vm->kvm_fd)) < 0)
        return rc;
    size_t count = e ? n : supported.n;
    struct kvm_cpuid2 *c = calloc(1, sizeof *c + count * sizeof(struct kvm_cpuid_entry2));
    if (!c)
        return vmm__err(VMM_ENOMEM, "CPUID table: out of memory");
    c->nent = (uint32_t)count;
    for (size_t i = 0; i < count; i++) {
        struct kvm_cpuid_entry2 *k = &c->entries[i];
        if (e) {
            k->function = e[i].function;
            k->index = e[i].index;
            k->flags = e[i].flags & 1 ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
            k->eax = e[i].eax;
            k->ebx = e[i].ebx;
            k->ecx = e[i].ecx;
            k->edx = e[i].edx;
        } else {
            *k = supported.e[i];
            /* Initial APIC ID: leaf 1 EBX[31:24], x2APIC ID in leaves 0xb and 0x1f EDX. */
            if (k->function == 1)
                k->ebx = (k->ebx & 0x00ffffffu) | (apic_id << 24);
            if (k->function == 0xb || k->function == 0x1f)
                k->edx = apic_id;
        }
    }
    rc = ioctl(v->fd, KVM_SET_CPUID2, c) < 0 ? vmm__kvm_fail("KVM_SET_CPUID2") : 0;
    free(c);
    return rc;
}

void vmm__kvm_exit_decode(struct kvm_run *run, vmm_exit *x)
{
    memset(x, 0, sizeof *x);
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        x->reason = VMM_EXIT_IO;
        x->io.port = run->io.port;
        x->io.size = run->io.size;
        x->io.is_write = run->io.direction == KVM_EXIT_IO_OUT;
        x->io.count = run->io.count;
        x->io.data = (uint8_t *)run + run->io.data_offset;
        break;
    case KVM_EXIT_MMIO:
        x->reason = VMM_EXIT_MMIO;
        x->mmio.addr = run->mmio.phys_addr;
        x->mmio.size = (uint8_t)run->mmio.len;
        x->mmio.is_write = run->mmio.is_write;
        x->mmio.data = run->mmio.data;
        break;
    case KVM_EXIT_HLT:
        x->reason = VMM_EXIT_HLT;
        break;
    case KVM_EXIT_SHUTDOWN:
        x->reason = VMM_EXIT_SHUTDOWN;
        break;
    case KVM_EXIT_DEBUG:
        x->reason = VMM_EXIT_DEBUG;
        x->debug.exception = run->debug.arch.exception;
        x->debug.pc = run->debug.arch.pc;
        x->debug.dr6 = run->debug.arch.dr6;
        x->debug.dr7 = run->debug.arch.dr7;
        break;
    case KVM_EXIT_FAIL_ENTRY:
        x->reason = VMM_EXIT_FAIL_ENTRY;
        x->internal.hw_reason = run->fail_entry.hardware_entry_failure_reason;
        break;
    case KVM_EXIT_INTERNAL_ERROR:
        x->reason = VMM_EXIT_INTERNAL_ERROR;
        x->internal.suberror = run->internal.suberror;
        if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && run->internal.ndata >= 3 &&
            (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
            uint8_t n = run->emulation_failure.insn_size;
            if (n > sizeof run->emulation_failure.insn_bytes)
                n = sizeof run->emulation_failure.insn_bytes;
            memcpy(x->internal.insn, run->emulation_failure.insn_bytes, n);
            x->internal.insn_len = n;
        }
        break;
    case KVM_EXIT_SYSTEM_EVENT:
        x->reason = VMM_EXIT_SYSTEM_EVENT;
        x->system_event.type = run->system_event.type;
        break;
    case KVM_EXIT_INTR:
        x->reason = VMM_EXIT_KICKED;
        break;
    default:
        /* An exit libvmm does not know: report it as an internal error carrying
         * KVM's exit reason, so the caller sees it rather than a silent resume. */
        x->reason = VMM_EXIT_INTERNAL_ERROR;
        x->internal.suberror = 0;
        x->internal.hw_reason = run->exit_reason;
        break;
    }
}
