/* SPDX-License-Identifier: MIT */
/* KVM backend for x86-64, the state snapshots save and restore: with
 * kvm_x86_64.c, the only code that issues KVM ioctls. */
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
#include "kvm_x86_64_blob.h"

/* ---- Snapshot state ---- */

struct vmm__kvm_snapinfo {
    bool xsave, xcrs, debugregs, events, clock, pit_state2;
    bool irqchip, pit;
    uint32_t xsave_size; /* bytes of KVM_GET_XSAVE(2) */
    bool msrs_ready;     /* msrs filtered for this VM */
    uint32_t nmsrs;
    uint32_t *msrs;
};

/* KVM_GET_MSR_INDEX_LIST, fetched once per process. */
static struct {
    pthread_mutex_t lock;
    uint32_t *idx;
    uint32_t n;
} msr_index = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

static int msr_index_list(int kvm_fd)
{
    pthread_mutex_lock(&msr_index.lock);
    int rc = 0;
    if (!msr_index.idx) {
        void *idx;
        rc = vmm__kvm_get_list(kvm_fd, KVM_GET_MSR_INDEX_LIST, "KVM_GET_MSR_INDEX_LIST",
                               offsetof(struct kvm_msr_list, indices), sizeof(uint32_t), 256, 65536,
                               &idx, &msr_index.n);
        if (rc == 0)
            msr_index.idx = idx;
    }
    pthread_mutex_unlock(&msr_index.lock);
    return rc;
}

static int snapinfo_new(int kvm_fd, int vm_fd, bool irqchip, bool pit,
                        struct vmm__kvm_snapinfo **out)
{
    *out = NULL;
    int rc = msr_index_list(kvm_fd);
    if (rc < 0)
        return rc;
    struct vmm__kvm_snapinfo *si = calloc(1, sizeof *si);
    if (!si)
        return vmm__err(VMM_ENOMEM, "snapshot: out of memory");
    si->xsave = vmm__kvm_check_extension(kvm_fd, KVM_CAP_XSAVE) > 0;
    si->xcrs = vmm__kvm_check_extension(kvm_fd, KVM_CAP_XCRS) > 0;
    si->debugregs = vmm__kvm_check_extension(kvm_fd, KVM_CAP_DEBUGREGS) > 0;
    si->events = vmm__kvm_check_extension(kvm_fd, KVM_CAP_VCPU_EVENTS) > 0;
    si->clock = vmm__kvm_check_extension(vm_fd, KVM_CAP_ADJUST_CLOCK) > 0;
    si->pit_state2 = vmm__kvm_check_extension(kvm_fd, KVM_CAP_PIT_STATE2) > 0;
    si->irqchip = irqchip;
    si->pit = pit;
    /* With dynamically enabled features (AMX) the image outgrows struct
     * kvm_xsave; KVM_CAP_XSAVE2 on the VM says by how much. */
    int x2 = vmm__kvm_check_extension(vm_fd, KVM_CAP_XSAVE2);
    si->xsave_size = x2 > (int)sizeof(struct kvm_xsave) ? (uint32_t)x2 : sizeof(struct kvm_xsave);
    const struct {
        bool have;
        const char *what;
    } parts[] = {
        {si->xsave, " XSAVE (only the legacy x87/SSE area is saved),"},
        {si->xcrs, " XCRs,"},
        {si->debugregs, " debug registers,"},
        {si->events, " pending events,"},
        {si->clock, " kvmclock,"},
        {!pit || si->pit_state2, " PIT,"},
    };
    char missing[256] = "";
    for (size_t i = 0; i < VMM__ARRAY_LEN(parts); i++)
        if (!parts[i].have)
            strncat(missing, parts[i].what, sizeof missing - strlen(missing) - 1);
    if (missing[0]) {
        missing[strlen(missing) - 1] = 0; /* the last comma */
        vmm__log(VMM_LOG_WARN, "snapshot", "KVM lacks the capability to save:%s", missing);
    }
    *out = si;
    return 0;
}

void vmm__kvm_snapinfo_free(struct vmm__kvm_snapinfo *si)
{
    if (si)
        free(si->msrs);
    free(si);
}

/* One KVM_GET_MSRS or KVM_SET_MSRS over n (< 256) indices in m; returns the
 * number processed (KVM stops at the first MSR it refuses) or -errno. */
static int msrs_ioctl(int fd, struct kvm_msrs *m, bool set)
{
    int r = ioctl(fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, m);
    return r < 0 ? -errno : r;
}

/* MSRs KVM leaves out of its list when the guest cannot use them (TSC_AUX
 * without RDTSCP/RDPID) but still lets the host read and write: saved too, so
 * a restore brings back everything vmm_vcpu_get_msrs() shows. */
static const uint32_t extra_msrs[] = {0xc0000103 /* TSC_AUX */};

/* Keep the MSRs of the process-wide index list (and the extras) that this
 * vCPU can both read and write back: the index list names every MSR KVM
 * knows, some of which depend on the vCPU's CPUID (and a few refuse the very
 * value they report), and a restore must not fail half-way on one of those.
 * One MSR per call, once per VM. The write-back stores the value just read; IA32_TSC is left out
 * of it (it would move the guest's clock back, and KVM always accepts it). */
static int filter_msrs(struct vmm__hv_vcpu *v, struct vmm__kvm_snapinfo *si)
{
    uint32_t total = msr_index.n + (uint32_t)VMM__ARRAY_LEN(extra_msrs);
    uint32_t *keep = malloc(total * sizeof *keep);
    if (!keep)
        return vmm__err(VMM_ENOMEM, "snapshot MSR list: out of memory");
    uint32_t nkeep = 0;
    for (uint32_t i = 0; i < total; i++) {
        uint32_t index = i < msr_index.n ? msr_index.idx[i] : extra_msrs[i - msr_index.n];
        bool dup = false;
        for (uint32_t k = 0; k < nkeep && i >= msr_index.n; k++)
            dup = dup || keep[k] == index;
        if (dup)
            continue;
        struct {
            struct kvm_msrs m;
            struct kvm_msr_entry e;
        } one = {.m = {.nmsrs = 1}, .e = {.index = index}};
        int r = msrs_ioctl(v->fd, &one.m, false);
        if (r == 1 && one.e.index != 0x10 /* IA32_TSC */)
            r = msrs_ioctl(v->fd, &one.m, true);
        if (r < 0) {
            free(keep);
            errno = -r;
            return vmm__kvm_fail("KVM_GET_MSRS/KVM_SET_MSRS (probing)");
        }
        if (r == 1)
            keep[nkeep++] = index;
        else
            vmm__log(VMM_LOG_DEBUG, "snapshot", "MSR 0x%x cannot be saved and restored; left out",
                     index);
    }
    free(si->msrs);
    si->msrs = keep;
    si->nmsrs = nkeep;
    si->msrs_ready = true;
    return 0;
}

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static size_t msr_chunks_size(uint32_t nmsrs)
{
    size_t chunks = (nmsrs + MSR_CHUNK - 1) / MSR_CHUNK;
    return chunks * sizeof(struct kvm_msrs) + (size_t)nmsrs * sizeof(struct kvm_msr_entry);
}

/* One part of a vCPU's state read by one ioctl into dst; bit goes into *parts. */
static int get_part(int fd, unsigned long req, const char *name, void *dst, uint32_t *parts,
                    uint32_t bit)
{
    if (ioctl(fd, req, dst) < 0)
        return vmm__kvm_fail(name);
    *parts |= bit;
    return 0;
}

/* The FPU: the XSAVE image at base + xoff where KVM has XSAVE, else the
 * legacy FPU state. */
static int get_fpu_state(struct vmm__hv_vcpu *v, const struct vmm__kvm_snapinfo *si,
                         struct vcpu_blob *b, uint8_t *base, size_t xoff)
{
    if (!si->xsave)
        return get_part(v->fd, KVM_GET_FPU, "KVM_GET_FPU", &b->fpu, &b->parts, PART_FPU);
    bool x2 = si->xsave_size > sizeof(struct kvm_xsave);
    int rc = get_part(v->fd, x2 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
                      x2 ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE", base + xoff, &b->parts, PART_XSAVE);
    if (rc < 0)
        return rc;
    /* For x87 and SSE in their initial state KVM reports the initial values
     * but leaves XSTATE_BV (byte 512) clear, and KVM_SET_XSAVE then keeps
     * whatever its buffer held, which KVM_GET_FPU shows. Marking them present
     * restores those values explicitly: the same state for the guest, and the
     * same for every reader. */
    base[xoff + 512] |= 3;
    b->xsave_size = si->xsave_size;
    return 0;
}

/* The listed MSRs at p, in chunks of struct kvm_msrs; VMM_ENOENT if KVM
 * refused one. */
static int get_msrs(struct vmm__hv_vcpu *v, const struct vmm__kvm_snapinfo *si, uint8_t *p)
{
    for (uint32_t i = 0; i < si->nmsrs; i += MSR_CHUNK) {
        uint32_t n = si->nmsrs - i < MSR_CHUNK ? si->nmsrs - i : MSR_CHUNK;
        struct kvm_msrs *m = (struct kvm_msrs *)p;
        m->nmsrs = n;
        for (uint32_t k = 0; k < n; k++)
            m->entries[k].index = si->msrs[i + k];
        int r = msrs_ioctl(v->fd, m, false);
        if (r < 0) {
            errno = -r;
            return vmm__kvm_fail("KVM_GET_MSRS");
        }
        if ((uint32_t)r < n)
            return vmm__err(VMM_ENOENT, "KVM_GET_MSRS: KVM refused MSR 0x%x", m->entries[r].index);
        p += sizeof *m + n * sizeof m->entries[0];
    }
    return 0;
}

/* Read one vCPU's state; VMM_ENOENT if KVM refused one of the listed MSRs. */
static int vcpu_get(struct vmm__hv_vcpu *v, const struct vmm__kvm_snapinfo *si, void **out,
                    size_t *out_len)
{
    size_t xoff = align8(sizeof(struct vcpu_blob));
    size_t moff = align8(xoff + (si->xsave ? si->xsave_size : 0));
    size_t total = moff + msr_chunks_size(si->nmsrs);
    struct vcpu_blob *b = calloc(1, total);
    if (!b)
        return vmm__err(VMM_ENOMEM, "vCPU state: out of memory");
    uint8_t *base = (uint8_t *)b;
    b->magic = VCPU_BLOB_MAGIC;
    b->total = total;
    b->xsave_off = (uint32_t)xoff;
    b->msrs_off = (uint32_t)moff;
    int fd = v->fd, rc;
    uint32_t *parts = &b->parts;
    if ((rc = get_part(fd, KVM_GET_REGS, "KVM_GET_REGS", &b->regs, parts, PART_REGS)) < 0 ||
        (rc = get_part(fd, KVM_GET_SREGS, "KVM_GET_SREGS", &b->sregs, parts, PART_SREGS)) < 0 ||
        (rc = get_fpu_state(v, si, b, base, xoff)) < 0 ||
        (si->xcrs &&
         (rc = get_part(fd, KVM_GET_XCRS, "KVM_GET_XCRS", &b->xcrs, parts, PART_XCRS)) < 0) ||
        (rc = get_msrs(v, si, base + moff)) < 0)
        goto fail;
    b->nmsrs = si->nmsrs;
    b->parts |= PART_MSRS;
    if ((si->debugregs && (rc = get_part(fd, KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS", &b->dregs,
                                         parts, PART_DEBUGREGS)) < 0) ||
        (si->events && (rc = get_part(fd, KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS", &b->events,
                                      parts, PART_EVENTS)) < 0))
        goto fail;
    /* Without an in-kernel irqchip KVM has no LAPIC, and a vCPU's MP state is
     * always RUNNABLE (HLT exits to the host instead). */
    if (si->irqchip &&
        ((rc = get_part(fd, KVM_GET_MP_STATE, "KVM_GET_MP_STATE", &b->mp, parts, PART_MP_STATE)) <
             0 ||
         (rc = get_part(fd, KVM_GET_LAPIC, "KVM_GET_LAPIC", &b->lapic, parts, PART_LAPIC)) < 0))
        goto fail;
    *out = b;
    *out_len = total;
    return 0;
fail:
    free(b);
    return rc;
}

/* The VM's snapinfo, made at its first save. */
static int snapinfo(struct vmm__hv_vm *vm, struct vmm__kvm_snapinfo **out)
{
    int rc = 0;
    if (!vm->snapinfo)
        rc = snapinfo_new(vm->kvm_fd, vm->vm_fd, vm->irqchip, vm->pit, &vm->snapinfo);
    *out = vm->snapinfo;
    return rc;
}

int vmm__kvm_vcpu_state_get(struct vmm__hv_vcpu *v, void **blob, size_t *len)
{
    *blob = NULL;
    *len = 0;
    struct vmm__kvm_snapinfo *si;
    int rc = snapinfo(v->vm, &si);
    if (rc < 0)
        return rc;
    if (!si->msrs_ready && (rc = filter_msrs(v, si)) < 0)
        return rc;
    rc = vcpu_get(v, si, blob, len);
    if (rc != VMM_ENOENT)
        return rc;
    /* An MSR the list had became unreadable (the CPUID changed since it was
     * made): make the list again from this vCPU, once. */
    if ((rc = filter_msrs(v, si)) < 0)
        return rc;
    return vcpu_get(v, si, blob, len);
}

/* Check that a blob's offsets and sizes describe its own bytes and that it
 * names only parts this backend knows: blobs come from snapshot files too, so
 * any bytes may arrive here. Reads the blob with memcpy (a file's buffer need
 * not be aligned) and only within len. */
static int vcpu_blob_check(const void *blob, size_t len)
{
    struct {
        uint32_t magic, parts;
        uint32_t xsave_size, xsave_off;
        uint32_t nmsrs, msrs_off;
        uint64_t total;
    } h;
    _Static_assert(sizeof h == offsetof(struct vcpu_blob, regs), "blob header layout");
    if (len < sizeof(struct vcpu_blob))
        return vmm__err(VMM_EINVAL, "vCPU state: %zu bytes, less than its %zu-byte header", len,
                        sizeof(struct vcpu_blob));
    memcpy(&h, blob, sizeof h);
    if (h.magic != VCPU_BLOB_MAGIC || h.total != len)
        return vmm__err(VMM_EINVAL, "vCPU state: bad header or length");
    if (h.parts & ~(uint32_t)VCPU_BLOB_PARTS)
        return vmm__err(VMM_EINVAL, "vCPU state: unknown parts 0x%x",
                        h.parts & ~(uint32_t)VCPU_BLOB_PARTS);
    if ((h.parts & PART_XSAVE) &&
        (h.xsave_size < sizeof(struct kvm_xsave) || h.xsave_off < sizeof(struct vcpu_blob) ||
         h.xsave_off > len || h.xsave_size > len - h.xsave_off))
        return vmm__err(VMM_EINVAL, "vCPU state: bad XSAVE area");
    if ((h.parts & PART_MSRS) &&
        (h.msrs_off < sizeof(struct vcpu_blob) || h.msrs_off > len || h.nmsrs > (1u << 20) ||
         msr_chunks_size(h.nmsrs) > len - h.msrs_off || (h.msrs_off & 7)))
        return vmm__err(VMM_EINVAL, "vCPU state: bad MSR area");
    if (h.parts & PART_MSRS) {
        /* Each chunk's count is what KVM_SET_MSRS will read entries by. */
        const uint8_t *p = (const uint8_t *)blob + h.msrs_off;
        for (uint32_t i = 0; i < h.nmsrs; i += MSR_CHUNK) {
            uint32_t n = h.nmsrs - i < MSR_CHUNK ? h.nmsrs - i : MSR_CHUNK, got;
            memcpy(&got, p + offsetof(struct kvm_msrs, nmsrs), sizeof got);
            if (got != n)
                return vmm__err(VMM_EINVAL, "vCPU state: MSR chunk %u holds %u entries, not %u",
                                i / MSR_CHUNK, got, n);
            p += sizeof(struct kvm_msrs) + n * sizeof(struct kvm_msr_entry);
        }
    }
    return 0;
}

int vmm__kvm_vcpu_state_valid(const void *blob, size_t len)
{
    return vcpu_blob_check(blob, len);
}

int vmm__kvm_vcpu_state_check(const struct vmm__hv_vcpu *v, const void *blob, size_t len)
{
    int rc = vcpu_blob_check(blob, len);
    if (rc < 0)
        return rc;
    uint32_t parts, xsave_size;
    memcpy(&parts, (const uint8_t *)blob + offsetof(struct vcpu_blob, parts), sizeof parts);
    memcpy(&xsave_size, (const uint8_t *)blob + offsetof(struct vcpu_blob, xsave_size),
           sizeof xsave_size);
    /* KVM_SET_XSAVE reads as many bytes as this vCPU's XSAVE image has
     * (KVM_CAP_XSAVE2), whatever the blob holds. */
    if ((parts & PART_XSAVE) && xsave_size < v->xsave_size)
        return vmm__err(VMM_EINVAL,
                        "vCPU state: its XSAVE image has %u bytes, this host's KVM needs %u (the "
                        "snapshot comes from a host with fewer XSAVE features)",
                        xsave_size, v->xsave_size);
    return 0;
}

int vmm__kvm_vcpu_state_paging(const void *blob, size_t len, struct vmm__paging_state *ps)
{
    const struct vcpu_blob *b = blob;
    int rc = vcpu_blob_check(blob, len);
    if (rc < 0)
        return rc;
    if (!(b->parts & PART_SREGS))
        return vmm__err(VMM_EINVAL, "vCPU state: no special registers");
    ps->cr0 = b->sregs.cr0;
    ps->cr3 = b->sregs.cr3;
    ps->cr4 = b->sregs.cr4;
    ps->efer = b->sregs.efer;
    return 0;
}

int vmm__kvm_vcpu_state_set(struct vmm__hv_vcpu *v, const void *blob, size_t len)
{
    const struct vcpu_blob *b = blob;
    int rc = vmm__kvm_vcpu_state_check(v, blob, len);
    if (rc < 0)
        return rc;
    const uint8_t *base = blob;
    /* The order QEMU uses for KVM (target/i386/kvm/kvm.c, kvm_arch_put_registers):
     * XSAVE after the general registers, SREGS before the MSRs (EFER, APIC base),
     * the LAPIC after the MP state, events and debug registers last. */
    v->regs_synced = false;
    if ((b->parts & PART_REGS) && ioctl(v->fd, KVM_SET_REGS, &b->regs) < 0)
        return vmm__kvm_fail("KVM_SET_REGS");
    if ((b->parts & PART_XSAVE) && ioctl(v->fd, KVM_SET_XSAVE, base + b->xsave_off) < 0)
        return vmm__kvm_fail("KVM_SET_XSAVE");
    if ((b->parts & PART_FPU) && ioctl(v->fd, KVM_SET_FPU, &b->fpu) < 0)
        return vmm__kvm_fail("KVM_SET_FPU");
    if ((b->parts & PART_XCRS) && ioctl(v->fd, KVM_SET_XCRS, &b->xcrs) < 0)
        return vmm__kvm_fail("KVM_SET_XCRS");
    if ((b->parts & PART_SREGS) && ioctl(v->fd, KVM_SET_SREGS, &b->sregs) < 0)
        return vmm__kvm_fail("KVM_SET_SREGS");
    if (b->parts & PART_MSRS) {
        const uint8_t *p = base + b->msrs_off;
        for (uint32_t i = 0; i < b->nmsrs; i += MSR_CHUNK) {
            uint32_t n = b->nmsrs - i < MSR_CHUNK ? b->nmsrs - i : MSR_CHUNK;
            struct kvm_msrs *m = (struct kvm_msrs *)p;
            if (m->nmsrs != n)
                return vmm__err(VMM_EINVAL, "vCPU state: bad MSR chunk");
            int r = msrs_ioctl(v->fd, m, true);
            if (r < 0) {
                errno = -r;
                return vmm__kvm_fail("KVM_SET_MSRS");
            }
            if ((uint32_t)r < n)
                return vmm__err(VMM_EKVM, "KVM_SET_MSRS: KVM refused MSR 0x%x = 0x%llx",
                                m->entries[r].index, (unsigned long long)m->entries[r].data);
            p += sizeof *m + n * sizeof m->entries[0];
        }
    }
    if ((b->parts & PART_MP_STATE) && ioctl(v->fd, KVM_SET_MP_STATE, &b->mp) < 0)
        return vmm__kvm_fail("KVM_SET_MP_STATE");
    if ((b->parts & PART_LAPIC) && ioctl(v->fd, KVM_SET_LAPIC, &b->lapic) < 0)
        return vmm__kvm_fail("KVM_SET_LAPIC");
    if (b->parts & PART_EVENTS) {
        struct kvm_vcpu_events ev = b->events;
        /* KVM_GET_VCPU_EVENTS reports these fields but KVM_SET_VCPU_EVENTS only
         * applies them when told to. */
        ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
        if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
            return vmm__kvm_fail("KVM_SET_VCPU_EVENTS");
    }
    if ((b->parts & PART_DEBUGREGS) && ioctl(v->fd, KVM_SET_DEBUGREGS, &b->dregs) < 0)
        return vmm__kvm_fail("KVM_SET_DEBUGREGS");
    return 0;
}

int vmm__kvm_vm_state_get(struct vmm__hv_vm *vm, void **blob, size_t *len)
{
    *blob = NULL;
    *len = 0;
    struct vmm__kvm_snapinfo *si;
    int rc = snapinfo(vm, &si);
    if (rc < 0)
        return rc;
    int vm_fd = vm->vm_fd;
    struct vm_blob *b = calloc(1, sizeof *b);
    if (!b)
        return vmm__err(VMM_ENOMEM, "VM state: out of memory");
    b->magic = VM_BLOB_MAGIC;
    if (si->irqchip) {
        static const uint32_t ids[3] = {KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE,
                                        KVM_IRQCHIP_IOAPIC};
        for (int i = 0; i < 3; i++) {
            b->chip[i].chip_id = ids[i];
            if (ioctl(vm_fd, KVM_GET_IRQCHIP, &b->chip[i]) < 0) {
                rc = vmm__kvm_fail("KVM_GET_IRQCHIP");
                goto fail;
            }
        }
        b->parts |= PART_IRQCHIP;
    }
    if (si->pit && si->pit_state2) {
        if (ioctl(vm_fd, KVM_GET_PIT2, &b->pit) < 0) {
            rc = vmm__kvm_fail("KVM_GET_PIT2");
            goto fail;
        }
        b->parts |= PART_PIT;
    }
    if (si->clock) {
        if (ioctl(vm_fd, KVM_GET_CLOCK, &b->clock) < 0) {
            rc = vmm__kvm_fail("KVM_GET_CLOCK");
            goto fail;
        }
        b->parts |= PART_CLOCK;
    }
    *blob = b;
    *len = sizeof *b;
    return 0;
fail:
    free(b);
    return rc;
}

int vmm__kvm_vm_state_valid(const void *blob, size_t len)
{
    uint32_t magic, parts;
    if (len != sizeof(struct vm_blob))
        return vmm__err(VMM_EINVAL, "VM state: %zu bytes, not %zu", len, sizeof(struct vm_blob));
    memcpy(&magic, (const uint8_t *)blob + offsetof(struct vm_blob, magic), sizeof magic);
    memcpy(&parts, (const uint8_t *)blob + offsetof(struct vm_blob, parts), sizeof parts);
    if (magic != VM_BLOB_MAGIC)
        return vmm__err(VMM_EINVAL, "VM state: bad header");
    if (parts & ~(uint32_t)VM_BLOB_PARTS)
        return vmm__err(VMM_EINVAL, "VM state: unknown parts 0x%x",
                        parts & ~(uint32_t)VM_BLOB_PARTS);
    return 0;
}

int vmm__kvm_vm_state_set(struct vmm__hv_vm *vm, const void *blob, size_t len)
{
    int vm_fd = vm->vm_fd;
    const struct vm_blob *b = blob;
    int rc = vmm__kvm_vm_state_valid(blob, len);
    if (rc < 0)
        return rc;
    if (b->parts & PART_IRQCHIP)
        for (int i = 0; i < 3; i++)
            if (ioctl(vm_fd, KVM_SET_IRQCHIP, &b->chip[i]) < 0)
                return vmm__kvm_fail("KVM_SET_IRQCHIP");
    if ((b->parts & PART_PIT) && ioctl(vm_fd, KVM_SET_PIT2, &b->pit) < 0)
        return vmm__kvm_fail("KVM_SET_PIT2");
    if (b->parts & PART_CLOCK) {
        /* Only the value: KVM_CLOCK_REALTIME would advance it by the time passed
         * since the snapshot, and a reset wants the snapshot's time. */
        struct kvm_clock_data c = {.clock = b->clock.clock};
        if (ioctl(vm_fd, KVM_SET_CLOCK, &c) < 0)
            return vmm__kvm_fail("KVM_SET_CLOCK");
    }
    return 0;
}
