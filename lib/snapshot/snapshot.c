/* SPDX-License-Identifier: MIT */
/* Whole-VM snapshots in memory: take, and restore by copying back only the
 * pages written since (KVM's dirty log plus the host's own writes). */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "snapshot_internal.h"

static atomic_uint_fast64_t next_id = 1;

uint64_t vmm__snapshot_new_id(void)
{
    return atomic_fetch_add(&next_id, 1);
}

void vmm_snapshot_free(vmm_snapshot *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nregions; i++) {
        if (s->regions[i].data)
            munmap(s->regions[i].data, (size_t)s->regions[i].size);
        free(s->regions[i].present);
    }
    free(s->regions);
    for (unsigned int i = 0; i < s->nvcpus; i++)
        free(s->vcpus[i].state);
    free(s->vcpus);
    free(s->vm_state);
    for (size_t i = 0; i < s->ndevices; i++)
        free(s->devices[i].data);
    free(s->devices);
    free(s->tables);
    free(s);
}

size_t vmm_snapshot_memory_size(const vmm_snapshot *s)
{
    return s ? s->bytes : 0;
}

int vmm_snapshot_last_restore(const vmm_vm *vm, vmm_snapshot_stats *stats)
{
    if (!vm || !stats)
        return vmm__err(VMM_EINVAL, "vmm_snapshot_last_restore: NULL argument");
    *stats = vm->snap_stats;
    return 0;
}

/* ---- holding the vCPUs ---- */

static void release_vcpus(vmm_vm *vm, unsigned int upto)
{
    for (unsigned int i = 0; i < upto; i++)
        if (vm->vcpus[i])
            vmm__vcpu_release(vm->vcpus[i]);
}

/* Become every vCPU's runner, completing pending I/O. */
static int acquire_vcpus(vmm_vm *vm, const char *fn)
{
    for (unsigned int i = 0; i < VMM__MAX_VCPUS; i++) {
        if (!vm->vcpus[i])
            continue;
        int rc = vmm__vcpu_acquire(vm->vcpus[i]);
        if (rc < 0) {
            release_vcpus(vm, i);
            vmm__err_prefix("%s", fn);
            return rc;
        }
    }
    return 0;
}

/* The i-th device in attach order (the VM keeps them newest first). */
static vmm_device *device_at(vmm_vm *vm, size_t i)
{
    vmm_device *d = vm->devices;
    for (size_t k = vm->ndevices - 1 - i; d && k; k--)
        d = d->next;
    return d;
}

/* ---- memory ---- */

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)p;
    uint64_t acc = 0;
    for (size_t i = 0; i < PAGE / 8; i++)
        acc |= w[i];
    return acc == 0;
}

/* Copy [off, off+len) of a region into the snapshot, leaving zero pages out. */
static void copy_range(struct snap_region *sr, const uint8_t *src, uint64_t off, uint64_t len)
{
    for (uint64_t o = off; o < off + len; o += PAGE) {
        if (page_is_zero(src + o))
            continue;
        memcpy(sr->data + o, src + o, PAGE);
        sr->present[o / PAGE / 64] |= 1ull << (o / PAGE % 64);
        sr->npresent++;
    }
}

/* Copy one region. In libvmm-allocated RAM only the parts of the memfd that
 * hold pages are read (SEEK_DATA), so untouched RAM is neither faulted in nor
 * copied. */
static int copy_region(struct snap_region *sr, const struct vmm__region *r)
{
    void *m = mmap(NULL, (size_t)r->size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return vmm__err(VMM_ENOMEM, "vmm_snapshot_take: %llu bytes for region 0x%llx: %s",
                        (unsigned long long)r->size, (unsigned long long)r->gpa, strerror(errno));
    sr->data = m;
    sr->present = calloc((size_t)((r->size / PAGE + 63) / 64), sizeof *sr->present);
    if (!sr->present)
        return vmm__err(VMM_ENOMEM, "vmm_snapshot_take: out of memory");
    bool sparse = r->owned;
    uint64_t off = 0;
    while (sparse && off < r->size) {
        off_t d = lseek(r->memfd, (off_t)off, SEEK_DATA);
        if (d < 0 && errno == ENXIO)
            break; /* no data after off */
        off_t h = d < 0 ? -1 : lseek(r->memfd, d, SEEK_HOLE);
        if (d < 0 || h < 0) {
            /* No SEEK_DATA here (older hugetlbfs): copy the rest in full. */
            sparse = false;
            break;
        }
        uint64_t start = (uint64_t)d & ~(uint64_t)(PAGE - 1);
        uint64_t end =
            (uint64_t)h < r->size ? ((uint64_t)h + PAGE - 1) & ~(uint64_t)(PAGE - 1) : r->size;
        copy_range(sr, r->host, start, end - start);
        off = end;
    }
    if (!sparse)
        copy_range(sr, r->host, off, r->size - off);
    /* The snapshot never changes again; make stray writes fault. */
    mprotect(sr->data, (size_t)r->size, PROT_READ);
    return 0;
}

/* ---- take ---- */

static int save_devices(vmm_vm *vm, vmm_snapshot *s)
{
    if (!vm->ndevices)
        return 0;
    s->devices = calloc(vm->ndevices, sizeof *s->devices);
    if (!s->devices)
        return vmm__err(VMM_ENOMEM, "vmm_snapshot_take: out of memory");
    for (size_t i = 0; i < vm->ndevices; i++) {
        vmm_device *d = device_at(vm, i);
        struct snap_device *sd = &s->devices[s->ndevices];
        snprintf(sd->type, sizeof sd->type, "%s", d->ops->name);
        snprintf(sd->id, sizeof sd->id, "%s", d->id);
        /* Ask for the size, then save (the lock is held: the size stays; the
         * loop guards a type whose size does change between the calls). */
        int rc = VMM_ERANGE;
        for (int attempt = 0; rc == VMM_ERANGE && attempt < 4; attempt++) {
            size_t len = 0;
            free(sd->data);
            sd->data = NULL;
            rc = vmm__device_save_locked(d, NULL, 0, &len);
            if (rc == 0 && !(sd->data = malloc(len ? len : 1)))
                rc = vmm__err(VMM_ENOMEM, "vmm_snapshot_take: out of memory");
            if (rc == 0)
                rc = vmm__device_save_locked(d, sd->data, len, &sd->len);
        }
        if (rc < 0) {
            free(sd->data);
            sd->data = NULL;
            vmm__err_prefix("vmm_snapshot_take");
            return rc;
        }
        s->ndevices++;
        s->bytes += sd->len;
    }
    return 0;
}

static int take_memory(vmm_vm *vm, vmm_snapshot *s)
{
    pthread_rwlock_wrlock(&vm->mem_lock);
    /* From here the pages written since the old baseline are being forgotten. */
    vm->snap_baseline = 0;
    int rc = vmm__mem_track(vm);
    if (rc == 0 && vm->nregions && !(s->regions = calloc(vm->nregions, sizeof *s->regions)))
        rc = vmm__err(VMM_ENOMEM, "vmm_snapshot_take: out of memory");
    for (size_t i = 0; rc == 0 && i < vm->nregions; i++) {
        const struct vmm__region *r = &vm->regions[i];
        /* Forget what was written before: the copy below holds it. */
        rc = vmm__mem_take_dirty(vm, i);
        if (rc < 0)
            break;
        struct snap_region *sr = &s->regions[i];
        s->nregions++;
        sr->gpa = r->gpa;
        sr->size = r->size;
        sr->flags = r->flags;
        rc = copy_region(sr, r);
        s->bytes += sr->npresent * PAGE;
    }
    if (rc == 0)
        vm->snap_baseline = s->id;
    pthread_rwlock_unlock(&vm->mem_lock);
    return rc;
}

int vmm_snapshot_take(vmm_vm *vm, vmm_snapshot **out)
{
    if (out)
        *out = NULL;
    if (!vm || !out)
        return vmm__err(VMM_EINVAL, "vmm_snapshot_take: NULL argument");
    if (!vmm__vm_quiescent(vm))
        return vmm__err(VMM_EBUSY,
                        "vmm_snapshot_take: a vCPU of the VM is running (pause it first)");
    /* Refuse devices that cannot be restored before changing anything. */
    for (vmm_device *d = vm->devices; d; d = d->next)
        if (!d->ops->save || !d->ops->load)
            return vmm__err(VMM_ENOSYS,
                            "vmm_snapshot_take: device %s (type \"%s\") cannot save and load "
                            "its state",
                            d->id, d->ops->name);
    int rc;
    vmm_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return vmm__err(VMM_ENOMEM, "vmm_snapshot_take: out of memory");
    s->id = vmm__snapshot_new_id();
    s->hv = vm->hv;
    s->vm_flags = vm->flags;
    s->bytes = sizeof *s;
    if ((rc = acquire_vcpus(vm, "vmm_snapshot_take")) < 0) {
        free(s);
        return rc;
    }
    if (vm->nvcpus && !(s->vcpus = calloc(vm->nvcpus, sizeof *s->vcpus)))
        rc = vmm__err(VMM_ENOMEM, "vmm_snapshot_take: out of memory");
    for (unsigned int i = 0; rc == 0 && i < VMM__MAX_VCPUS; i++) {
        if (!vm->vcpus[i])
            continue;
        struct snap_vcpu *sv = &s->vcpus[s->nvcpus];
        sv->index = i;
        rc = vm->hv->vcpu_state_get(vm->vcpus[i]->hv, &sv->state, &sv->len);
        if (rc < 0) {
            vmm__err_prefix("vmm_snapshot_take: vCPU %u", i);
            break;
        }
        s->nvcpus++;
        s->bytes += sv->len;
    }
    if (rc == 0 && (rc = vm->hv->vm_state_get(vm->hvm, &s->vm_state, &s->vm_state_len)) < 0)
        vmm__err_prefix("vmm_snapshot_take");
    s->bytes += s->vm_state_len;
    /* Devices and memory as of one instant: no device's I/O thread may serve
     * a queue (writing guest memory) between its saved state and the copy. */
    vmm__vm_devices_lock(vm, true);
    if (rc == 0)
        rc = save_devices(vm, s);
    if (rc == 0)
        rc = take_memory(vm, s);
    vmm__vm_devices_lock(vm, false);
    release_vcpus(vm, VMM__MAX_VCPUS);
    if (rc < 0) {
        vmm_snapshot_free(s);
        return rc;
    }
    vmm__snapshot_index_tables(s);
    *out = s;
    return 0;
}

/* ---- page tables ---- */

/* The most page-table pages a snapshot indexes; beyond, every restore that
 * changes memory drops the shadow page tables. */
#define MAX_TABLES 4096

struct table_set {
    uint64_t *pages;
    size_t n, cap;
};

static int snap_phys_read(void *ctx, uint64_t gpa, uint64_t *val, size_t size)
{
    const vmm_snapshot *s = ctx;
    for (size_t i = 0; i < s->nregions; i++) {
        const struct snap_region *sr = &s->regions[i];
        if (gpa < sr->gpa || gpa - sr->gpa >= sr->size || size > sr->size - (gpa - sr->gpa))
            continue;
        uint64_t off = gpa - sr->gpa, p = off / PAGE;
        *val = 0;
        if ((off + size - 1) / PAGE == p && (sr->present[p / 64] >> (p % 64) & 1))
            memcpy(val, sr->data + off, size);
        return 0;
    }
    return -1;
}

static int table_add(void *ctx, uint64_t gpa)
{
    struct table_set *t = ctx;
    for (size_t i = 0; i < t->n; i++) /* small sets: a linear scan is enough */
        if (t->pages[i] == gpa)
            return 0;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        uint64_t *p = realloc(t->pages, cap * sizeof *p);
        if (!p)
            return -1;
        t->pages = p;
        t->cap = cap;
    }
    t->pages[t->n++] = gpa;
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void vmm__snapshot_index_tables(vmm_snapshot *s)
{
    struct table_set t = {0};
    bool ok = true;
    struct vmm__err_saved saved; /* a failed walk is not the caller's error */
    vmm__err_save(&saved);
    for (unsigned int i = 0; ok && i < s->nvcpus; i++) {
        struct vmm__paging_state ps;
        ok = s->hv->vcpu_state_paging(s->vcpus[i].state, s->vcpus[i].len, &ps) == 0 &&
             vmm__x86_table_pages(&ps, snap_phys_read, s, table_add, &t, MAX_TABLES) == 0;
    }
    vmm__err_restore(&saved);
    free(s->tables);
    s->tables = NULL;
    s->ntables = 0;
    s->tables_unknown = !ok;
    if (!ok) {
        free(t.pages);
        return;
    }
    if (t.n)
        qsort(t.pages, t.n, sizeof *t.pages, cmp_u64);
    s->tables = t.pages;
    s->ntables = t.n;
    s->bytes += t.n * sizeof *t.pages;
}

static bool is_table(const vmm_snapshot *s, uint64_t gpa)
{
    size_t lo = 0, hi = s->ntables;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->tables[mid] == gpa)
            return true;
        if (s->tables[mid] < gpa)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* ---- restore ---- */

/* VMM_EINVAL naming the first difference between the VM's shape and the snapshot's. */
static int check_shape(vmm_vm *vm, const vmm_snapshot *s)
{
#define REFUSE(...) return vmm__err(VMM_EINVAL, "vmm_snapshot_restore: " __VA_ARGS__)
    if (s->hv != vm->hv)
        REFUSE("the snapshot holds the state of hypervisor backend \"%s\"; the VM runs on \"%s\"",
               s->hv->name, vm->hv->name);
    if ((vm->flags ^ s->vm_flags) & (VMM_VM_IRQCHIP | VMM_VM_PIT))
        REFUSE("the VM was created with flags 0x%x (irqchip, PIT), the snapshot's VM with 0x%x",
               vm->flags, s->vm_flags);
    pthread_rwlock_rdlock(&vm->mem_lock);
    size_t nregions = vm->nregions;
    int diff = -1;
    for (size_t i = 0; i < nregions && i < s->nregions && diff < 0; i++)
        if (vm->regions[i].gpa != s->regions[i].gpa || vm->regions[i].size != s->regions[i].size)
            diff = (int)i;
    uint64_t gpa = diff >= 0 ? vm->regions[diff].gpa : 0;
    uint64_t size = diff >= 0 ? vm->regions[diff].size : 0;
    pthread_rwlock_unlock(&vm->mem_lock);
    if (diff >= 0)
        REFUSE("RAM region %d is [0x%llx, +0x%llx), in the snapshot [0x%llx, +0x%llx)", diff,
               (unsigned long long)gpa, (unsigned long long)size,
               (unsigned long long)s->regions[diff].gpa, (unsigned long long)s->regions[diff].size);
    if (nregions != s->nregions)
        REFUSE("the VM has %zu RAM regions, the snapshot %zu", nregions, s->nregions);
    unsigned int k = 0;
    for (unsigned int i = 0; i < VMM__MAX_VCPUS; i++) {
        if (!vm->vcpus[i])
            continue;
        if (k >= s->nvcpus || s->vcpus[k].index != i)
            REFUSE("the VM has vCPU %u, the snapshot does not", i);
        /* A loaded snapshot's state comes from a file: refuse it here, before
         * anything changes, if this vCPU cannot take it. */
        if (vm->hv->vcpu_state_check(vm->vcpus[i]->hv, s->vcpus[k].state, s->vcpus[k].len) < 0) {
            vmm__err_prefix("vmm_snapshot_restore: vCPU %u", i);
            return VMM_EINVAL;
        }
        k++;
    }
    if (k != s->nvcpus)
        REFUSE("the snapshot has vCPU %u, the VM does not", s->vcpus[k].index);
    if (vm->ndevices != s->ndevices)
        REFUSE("the VM has %u devices, the snapshot %zu", vm->ndevices, s->ndevices);
    for (size_t i = 0; i < s->ndevices; i++) {
        const vmm_device *d = device_at(vm, i);
        const struct snap_device *sd = &s->devices[i];
        if (strcmp(d->ops->name, sd->type) != 0 || strcmp(d->id, sd->id) != 0)
            REFUSE("device %zu (in attach order) is %s \"%s\", in the snapshot %s \"%s\"", i,
                   d->ops->name, d->id, sd->type, sd->id);
    }
    return 0;
#undef REFUSE
}

/* Set [off, off+len) of a region to zero: in libvmm's own RAM by giving the
 * pages back to the memfd (they read as zero and cost nothing until used). */
static void zero_range(const struct vmm__region *r, uint64_t off, uint64_t len)
{
    if (r->owned && !(r->flags & VMM_MEM_HUGEPAGES) &&
        fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) ==
            0)
        return;
    memset(r->host + off, 0, (size_t)len);
}

/* Copy a whole region back: runs of pages the snapshot holds are copied, the
 * runs between them zeroed. */
static void restore_full(const struct vmm__region *r, const struct snap_region *sr)
{
    uint64_t pages = r->size / PAGE;
    uint64_t p = 0;
    while (p < pages) {
        bool present = sr->present[p / 64] >> (p % 64) & 1;
        uint64_t q = p + 1;
        while (q < pages && (bool)(sr->present[q / 64] >> (q % 64) & 1) == present)
            q++;
        if (present)
            memcpy(r->host + p * PAGE, sr->data + p * PAGE, (size_t)((q - p) * PAGE));
        else
            zero_range(r, p * PAGE, (q - p) * PAGE);
        p = q;
    }
}

/* Copy back the pages set in the VM's scratch bitmap that differ from the
 * snapshot (the others are left alone): returns how many were set, adds the
 * number copied to *changed, and sets *table_changed if a copied page is one
 * of the snapshot's page tables. */
static uint64_t restore_dirty(vmm_vm *vm, const struct vmm__region *r, const vmm_snapshot *s,
                              const struct snap_region *sr, uint64_t *changed, bool *table_changed)
{
    uint64_t words = (r->size / PAGE + 63) / 64, n = 0;
    for (uint64_t w = 0; w < words; w++) {
        uint64_t bits = vm->snap_scratch[w];
        while (bits) {
            uint64_t p = w * 64 + (uint64_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            n++;
            if (memcmp(r->host + p * PAGE, sr->data + p * PAGE, PAGE) != 0) {
                memcpy(r->host + p * PAGE, sr->data + p * PAGE, PAGE);
                (*changed)++;
                if (!*table_changed && is_table(s, r->gpa + p * PAGE))
                    *table_changed = true;
            }
        }
    }
    return n;
}

/* Whether KVM shadows the guest's page tables (PVM, or VMX/SVM without
 * EPT/NPT); when the backend cannot be told, assume it does. */
static bool shadow_paging(vmm_vm *vm)
{
    if (vm->snap_shadow < 0) {
        const vmm_host_info *hi = vm->hv->vm_host_info(vm->hvm);
        vm->snap_shadow = !(hi->paging == VMM_PAGING_EPT || hi->paging == VMM_PAGING_NPT);
    }
    return vm->snap_shadow;
}

static int restore_memory(vmm_vm *vm, const vmm_snapshot *s, unsigned int flags,
                          vmm_snapshot_stats *st)
{
    pthread_rwlock_wrlock(&vm->mem_lock);
    bool full = vm->snap_baseline != s->id;
    bool table_changed = full || s->tables_unknown || !(flags & VMM_SNAPSHOT_KEEP_PAGE_TABLES);
    vm->snap_baseline = 0; /* until every region is done */
    uint64_t changed = 0;
    int rc = vmm__mem_track(vm);
    for (size_t i = 0; rc == 0 && i < vm->nregions; i++) {
        const struct vmm__region *r = &vm->regions[i];
        /* Fetch (and clear) the dirty pages before writing: the copies below
         * are host writes KVM does not log. */
        if ((rc = vmm__mem_take_dirty(vm, i)) < 0)
            break;
        st->pages_total += r->size / PAGE;
        if (full) {
            restore_full(r, &s->regions[i]);
            st->pages_dirty += r->size / PAGE;
            changed += r->size / PAGE;
        } else {
            st->pages_dirty += restore_dirty(vm, r, s, &s->regions[i], &changed, &table_changed);
        }
    }
    /* With shadow paging KVM keeps page tables derived from the guest's; it
     * follows the guest's own writes to them but not ours, so after changing
     * memory behind its back they must go (any changed page may have been a
     * page table). Costs a memory slot update and the guest's refaults.
     * With VMM_SNAPSHOT_KEEP_PAGE_TABLES only a changed page table counts. */
    if (rc == 0 && changed && table_changed && shadow_paging(vm)) {
        rc = vmm__mem_flush_shadow(vm);
        st->shadow_flushed = rc == 0;
    }
    if (rc == 0)
        vm->snap_baseline = s->id;
    st->pages_copied = changed;
    st->full = full;
    pthread_rwlock_unlock(&vm->mem_lock);
    return rc;
}

int vmm_snapshot_restore(vmm_vm *vm, const vmm_snapshot *s)
{
    return vmm_snapshot_restore_flags(vm, s, 0);
}

int vmm_snapshot_restore_flags(vmm_vm *vm, const vmm_snapshot *s, unsigned int flags)
{
    if (!vm || !s)
        return vmm__err(VMM_EINVAL, "vmm_snapshot_restore: NULL argument");
    if (flags & ~VMM_SNAPSHOT_KEEP_PAGE_TABLES)
        return vmm__err(VMM_EINVAL, "vmm_snapshot_restore: unknown flags 0x%x",
                        flags & ~VMM_SNAPSHOT_KEEP_PAGE_TABLES);
    uint64_t t0 = vmm__now_ns();
    if (!vmm__vm_quiescent(vm))
        return vmm__err(VMM_EBUSY,
                        "vmm_snapshot_restore: a vCPU of the VM is running (pause it first)");
    int rc = check_shape(vm, s);
    if (rc < 0)
        return rc;
    if ((rc = acquire_vcpus(vm, "vmm_snapshot_restore")) < 0)
        return rc;
    vmm_snapshot_stats st = {0};
    /* No device's I/O thread may write guest memory from its state of now
     * into the restored memory, before its state is restored too. */
    vmm__vm_devices_lock(vm, true);
    rc = restore_memory(vm, s, flags, &st);
    /* Memory first: setting the special registers reloads PAE page-directory
     * pointers from guest memory. */
    for (unsigned int k = 0; rc == 0 && k < s->nvcpus; k++) {
        const struct snap_vcpu *sv = &s->vcpus[k];
        rc = vm->hv->vcpu_state_set(vm->vcpus[sv->index]->hv, sv->state, sv->len);
        if (rc < 0)
            vmm__err_prefix("vmm_snapshot_restore: vCPU %u", sv->index);
    }
    if (rc == 0 && (rc = vm->hv->vm_state_set(vm->hvm, s->vm_state, s->vm_state_len)) < 0)
        vmm__err_prefix("vmm_snapshot_restore");
    /* Devices last: a device's load may set its interrupt line, which must
     * land on the restored interrupt controllers. */
    for (size_t i = 0; rc == 0 && i < s->ndevices; i++)
        if ((rc = vmm__device_load_locked(device_at(vm, i), s->devices[i].data,
                                          s->devices[i].len)) < 0)
            vmm__err_prefix("vmm_snapshot_restore");
    vmm__vm_devices_lock(vm, false);
    release_vcpus(vm, VMM__MAX_VCPUS);
    if (rc < 0) {
        vm->snap_baseline = 0; /* the next restore must copy everything */
        return rc;
    }
    st.duration_ns = vmm__now_ns() - t0;
    vm->snap_stats = st;
    return 0;
}
