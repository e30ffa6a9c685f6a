/* SPDX-License-Identifier: MIT */
/* Guest-physical memory map: regions, checked translation and copies, dirty log. */
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define PAGE      VMM_PAGE_SIZE
#define GPA_LIMIT (1ull << 52) /* the architectural maximum physical address width */

/* Index of the first region whose end is above gpa (regions are sorted, disjoint). */
static size_t lower_bound(const vmm_vm *vm, uint64_t gpa)
{
    size_t lo = 0, hi = vm->nregions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct vmm__region *r = &vm->regions[mid];
        if (r->gpa + r->size <= gpa)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const struct vmm__region *vmm__mem_find(const vmm_vm *vm, uint64_t gpa, uint64_t len)
{
    size_t i = lower_bound(vm, gpa);
    if (i == vm->nregions)
        return NULL;
    const struct vmm__region *r = &vm->regions[i];
    if (gpa < r->gpa || len > r->size || gpa - r->gpa > r->size - len)
        return NULL;
    return r;
}

bool vmm__mem_overlaps(const vmm_vm *vm, uint64_t gpa, uint64_t len)
{
    /* Inclusive end: a range may end at 2^64 - 1 (len > 0 checked by callers). */
    size_t i = lower_bound(vm, gpa);
    return len && i < vm->nregions && vm->regions[i].gpa <= gpa + len - 1;
}

/* Record that the host wrote [off, off+len) of a region, for snapshots. */
static void mark_written(const struct vmm__region *r, uint64_t off, uint64_t len)
{
    if (!r->snap_dirty || !len)
        return;
    uint64_t first = off / PAGE, last = (off + len - 1) / PAGE;
    while (first <= last) {
        uint64_t w = first / 64, bit = first % 64;
        uint64_t n = last - first + 1 < 64 - bit ? last - first + 1 : 64 - bit;
        uint64_t mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << bit;
        __atomic_fetch_or(&r->snap_dirty[w], mask, __ATOMIC_RELAXED);
        first += n;
    }
}

/* Walk [gpa, gpa+len) region by region; with copy false only validate. */
static int walk(vmm_vm *vm, uint64_t gpa, uint8_t *buf, size_t len, bool write, bool for_device,
                bool copy)
{
    while (len) {
        size_t i = lower_bound(vm, gpa);
        const struct vmm__region *r = i < vm->nregions ? &vm->regions[i] : NULL;
        if (!r || gpa < r->gpa)
            return vmm__err(VMM_EFAULT, "guest address 0x%llx is not RAM", (unsigned long long)gpa);
        if (write && for_device && (r->flags & VMM_MEM_READONLY))
            return vmm__err(VMM_EFAULT, "guest address 0x%llx is read-only",
                            (unsigned long long)gpa);
        uint64_t off = gpa - r->gpa;
        size_t n = r->size - off < len ? (size_t)(r->size - off) : len;
        if (copy) {
            if (write) {
                memcpy(r->host + off, buf, n);
                mark_written(r, off, n);
            } else {
                memcpy(buf, r->host + off, n);
            }
        }
        buf += n;
        gpa += n;
        len -= n;
    }
    return 0;
}

int vmm__mem_access(vmm_vm *vm, uint64_t gpa, void *buf, size_t len, bool write, bool for_device)
{
    if (len && gpa + len - 1 < gpa)
        return vmm__err(VMM_EFAULT, "guest range 0x%llx+%zu wraps around", (unsigned long long)gpa,
                        len);
    pthread_rwlock_rdlock(&vm->mem_lock);
    int rc = walk(vm, gpa, buf, len, write, for_device, false);
    if (rc == 0)
        rc = walk(vm, gpa, buf, len, write, for_device, true);
    pthread_rwlock_unlock(&vm->mem_lock);
    return rc;
}

int vmm_mem_read(vmm_vm *vm, uint64_t gpa, void *buf, size_t len)
{
    if (!vm || (!buf && len))
        return vmm__err(VMM_EINVAL, "vmm_mem_read: NULL argument");
    return vmm__mem_access(vm, gpa, buf, len, false, false);
}

int vmm_mem_write(vmm_vm *vm, uint64_t gpa, const void *buf, size_t len)
{
    if (!vm || (!buf && len))
        return vmm__err(VMM_EINVAL, "vmm_mem_write: NULL argument");
    return vmm__mem_access(vm, gpa, (void *)buf, len, true, false);
}

int vmm_mem_host_ptr(vmm_vm *vm, uint64_t gpa, uint64_t len, void **host)
{
    if (!vm || !host)
        return vmm__err(VMM_EINVAL, "vmm_mem_host_ptr: NULL argument");
    pthread_rwlock_rdlock(&vm->mem_lock);
    const struct vmm__region *r = vmm__mem_find(vm, gpa, len);
    *host = r ? r->host + (gpa - r->gpa) : NULL;
    /* The caller may write through the pointer: count the range as written. */
    if (r)
        mark_written(r, gpa - r->gpa, len);
    pthread_rwlock_unlock(&vm->mem_lock);
    if (!r)
        return vmm__err(VMM_EFAULT, "guest range 0x%llx+0x%llx is not inside one RAM region",
                        (unsigned long long)gpa, (unsigned long long)len);
    return 0;
}

#define HUGE_PAGE (2ull << 20)

/* libvmm-owned RAM: a memfd mapped shared between two inaccessible guard areas
 * (a page each, or a huge page each with huge pages, which need the alignment). */
static int alloc_ram(struct vmm__region *r, uint64_t size, bool huge)
{
    unsigned int mflags = MFD_CLOEXEC | (huge ? MFD_HUGETLB : 0);
    int fd = memfd_create("libvmm-guest-ram", mflags);
    if (fd < 0)
        return vmm__err(VMM_ENOMEM, "memfd_create%s: %s", huge ? " (huge pages)" : "",
                        strerror(errno));
    if (ftruncate(fd, (off_t)size) < 0) {
        int e = errno;
        close(fd);
        return vmm__err(VMM_ENOMEM, "guest RAM of %llu bytes: %s", (unsigned long long)size,
                        strerror(e));
    }
    /* With huge pages the RAM must start 2 MiB aligned: reserve one huge page
     * more than the two guards and align inside the reservation. */
    size_t guard = huge ? HUGE_PAGE : PAGE;
    size_t total = (size_t)size + 2 * guard + (huge ? HUGE_PAGE : 0);
    void *base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        int e = errno;
        close(fd);
        return vmm__err(VMM_ENOMEM, "reserve guest RAM: %s", strerror(e));
    }
    uint8_t *start = (uint8_t *)base + guard;
    if (huge)
        start = (uint8_t *)(((uintptr_t)base + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1)) +
                HUGE_PAGE;
    void *ram = mmap(start, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
    if (ram == MAP_FAILED) {
        int e = errno;
        munmap(base, total);
        close(fd);
        if (huge)
            return vmm__err(VMM_ENOMEM,
                            "map guest RAM from huge pages: %s (are enough 2 MiB pages free? "
                            "see /proc/sys/vm/nr_hugepages)",
                            strerror(e));
        return vmm__err(VMM_ENOMEM, "map guest RAM: %s", strerror(e));
    }
    r->host = ram;
    r->map_base = base;
    r->map_len = total;
    r->memfd = fd;
    r->owned = true;
    return 0;
}

static void free_region(struct vmm__region *r)
{
    free(r->snap_dirty);
    r->snap_dirty = NULL;
    if (r->owned) {
        munmap(r->map_base, r->map_len);
        close(r->memfd);
    }
}

int vmm_mem_map(vmm_vm *vm, uint64_t gpa, uint64_t size, void *host, unsigned int flags)
{
    if (!vm)
        return vmm__err(VMM_EINVAL, "vmm_mem_map: vm is NULL");
    if (flags & ~(VMM_MEM_READONLY | VMM_MEM_DIRTY_LOG | VMM_MEM_HUGEPAGES))
        return vmm__err(VMM_EINVAL, "vmm_mem_map: unknown flags 0x%x", flags);
    if ((flags & VMM_MEM_HUGEPAGES) && (host || ((gpa | size) & (HUGE_PAGE - 1))))
        return vmm__err(VMM_EINVAL, "vmm_mem_map: huge pages need libvmm-allocated memory and a "
                                    "2 MiB aligned gpa and size");
    if (size == 0)
        return vmm__err(VMM_EINVAL, "vmm_mem_map: size is 0");
    if ((gpa | size) & (PAGE - 1))
        return vmm__err(VMM_EINVAL, "vmm_mem_map: gpa 0x%llx or size 0x%llx not page aligned",
                        (unsigned long long)gpa, (unsigned long long)size);
    if ((uintptr_t)host & (PAGE - 1))
        return vmm__err(VMM_EINVAL, "vmm_mem_map: host pointer %p not page aligned", host);
    if (gpa >= GPA_LIMIT || size > GPA_LIMIT - gpa)
        return vmm__err(VMM_EOVERFLOW, "vmm_mem_map: [0x%llx, +0x%llx) beyond 2^52",
                        (unsigned long long)gpa, (unsigned long long)size);
    if (size > SIZE_MAX - 2 * PAGE)
        return vmm__err(VMM_EOVERFLOW, "vmm_mem_map: size too large for this host");
    if ((flags & VMM_MEM_READONLY) && !vm->cap_readonly_mem)
        return vmm__err(VMM_ENOTSUP, "vmm_mem_map: KVM lacks read-only memory");
    if (vmm__vm_busy(vm))
        return vmm__err(VMM_EBUSY, "vmm_mem_map: a vCPU of the VM is running");
    if (vm->memory_limit && (size > vm->memory_limit || vm->mapped_bytes > vm->memory_limit - size))
        return vmm__err(VMM_ENOMEM, "vmm_mem_map: would exceed the VM's memory limit of %llu bytes",
                        (unsigned long long)vm->memory_limit);

    pthread_rwlock_wrlock(&vm->mem_lock);
    int rc = 0;
    size_t i = lower_bound(vm, gpa);
    if (i < vm->nregions && vm->regions[i].gpa < gpa + size) {
        const struct vmm__region *o = &vm->regions[i];
        rc = vmm__err(VMM_EEXIST, "vmm_mem_map: [0x%llx, 0x%llx) overlaps region [0x%llx, 0x%llx)",
                      (unsigned long long)gpa, (unsigned long long)(gpa + size),
                      (unsigned long long)o->gpa, (unsigned long long)(o->gpa + o->size));
        goto out;
    }
    for (size_t k = 0; k < vm->mmio.n; k++) {
        const struct vmm__range *m = &vm->mmio.r[k];
        if (vmm__ranges_overlap(gpa, size, m->base, m->len)) {
            rc = vmm__err(VMM_EEXIST, "vmm_mem_map: overlaps MMIO range at 0x%llx",
                          (unsigned long long)m->base);
            goto out;
        }
    }
    if (vm->nregions == vm->regions_cap) {
        size_t cap = vm->regions_cap ? vm->regions_cap * 2 : 8;
        struct vmm__region *n = realloc(vm->regions, cap * sizeof *n);
        if (!n) {
            rc = vmm__err(VMM_ENOMEM, "vmm_mem_map: out of memory");
            goto out;
        }
        vm->regions = n;
        vm->regions_cap = cap;
    }
    struct vmm__region r = {.gpa = gpa, .size = size, .host = host, .flags = flags, .memfd = -1};
    if (!host && (rc = alloc_ram(&r, size, flags & VMM_MEM_HUGEPAGES)) < 0)
        goto out;
    rc = vm->hv->mem_add(vm->hvm, gpa, size, r.host, flags & VMM_MEM_READONLY,
                         flags & VMM_MEM_DIRTY_LOG, &r.slot);
    if (rc < 0) {
        vmm__err_prefix("vmm_mem_map");
        free_region(&r);
        goto out;
    }
    memmove(&vm->regions[i + 1], &vm->regions[i], (vm->nregions - i) * sizeof r);
    vm->regions[i] = r;
    vm->nregions++;
    vm->mapped_bytes += size;
    vm->snap_baseline = 0; /* a restore must copy everything into the new layout */
out:
    pthread_rwlock_unlock(&vm->mem_lock);
    return rc;
}

#define FILE_MAX (1ull << 40)

int vmm_mem_map_file(vmm_vm *vm, uint64_t gpa, const char *path, uint64_t *size)
{
    if (!vm || !path)
        return vmm__err(VMM_EINVAL, "vmm_mem_map_file: NULL argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return vmm__err(e == ENOENT ? VMM_ENOENT : VMM_EIO, "%s: %s", path, strerror(e));
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = vmm__err(VMM_EIO, "%s: not a regular file", path);
    else if (st.st_size == 0)
        rc = vmm__err(VMM_EINVAL, "%s: empty file", path);
    else if ((uint64_t)st.st_size > FILE_MAX)
        rc = vmm__err(VMM_E2BIG, "%s: larger than 1 TiB", path);
    uint64_t len = rc ? 0 : ((uint64_t)st.st_size + PAGE - 1) & ~(uint64_t)(PAGE - 1);
    /* Map writable first so the contents can be copied in, then let KVM see it
     * read-only: a region's flags only matter to the guest. */
    if (rc == 0)
        rc = vmm_mem_map(vm, gpa, len, NULL, VMM_MEM_READONLY);
    if (rc == 0) {
        void *host;
        vmm_mem_host_ptr(vm, gpa, len, &host);
        uint64_t done = 0;
        while (rc == 0 && done < (uint64_t)st.st_size) {
            ssize_t n = pread(fd, (uint8_t *)host + done, (size_t)((uint64_t)st.st_size - done),
                              (off_t)done);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                rc = vmm__err(VMM_EIO, "%s: read: %s", path,
                              n < 0 ? strerror(errno) : "file shrank");
            else
                done += (uint64_t)n;
        }
        if (rc < 0) { /* undo the mapping, keeping the read error */
            struct vmm__err_saved saved;
            vmm__err_save(&saved);
            vmm_mem_unmap(vm, gpa);
            vmm__err_restore(&saved);
        }
    }
    close(fd);
    if (rc == 0 && size)
        *size = len;
    return rc;
}

int vmm_mem_unmap(vmm_vm *vm, uint64_t gpa)
{
    if (!vm)
        return vmm__err(VMM_EINVAL, "vmm_mem_unmap: vm is NULL");
    if (vmm__vm_busy(vm))
        return vmm__err(VMM_EBUSY, "vmm_mem_unmap: a vCPU of the VM is running");
    pthread_rwlock_wrlock(&vm->mem_lock);
    int rc;
    size_t i = lower_bound(vm, gpa);
    if (i == vm->nregions || vm->regions[i].gpa != gpa) {
        rc = vmm__err(VMM_ENOENT, "vmm_mem_unmap: no region starts at 0x%llx",
                      (unsigned long long)gpa);
        goto out;
    }
    struct vmm__region *r = &vm->regions[i];
    rc = vm->hv->mem_remove(vm->hvm, r->slot);
    if (rc < 0)
        goto out;
    vm->mapped_bytes -= r->size;
    free_region(r);
    memmove(r, r + 1, (vm->nregions - i - 1) * sizeof *r);
    vm->nregions--;
    vm->snap_baseline = 0;
out:
    pthread_rwlock_unlock(&vm->mem_lock);
    return rc;
}

int vmm_mem_dirty_log(vmm_vm *vm, uint64_t gpa, uint64_t *bitmap, size_t words)
{
    if (!vm || !bitmap)
        return vmm__err(VMM_EINVAL, "vmm_mem_dirty_log: NULL argument");
    pthread_rwlock_rdlock(&vm->mem_lock);
    int rc;
    size_t i = lower_bound(vm, gpa);
    if (i == vm->nregions || vm->regions[i].gpa != gpa) {
        rc = vmm__err(VMM_ENOENT, "vmm_mem_dirty_log: no region starts at 0x%llx",
                      (unsigned long long)gpa);
        goto out;
    }
    const struct vmm__region *r = &vm->regions[i];
    uint64_t pages = r->size / PAGE;
    if (!(r->flags & VMM_MEM_DIRTY_LOG)) {
        rc = vmm__err(VMM_EINVAL, "vmm_mem_dirty_log: region 0x%llx has no dirty logging",
                      (unsigned long long)gpa);
        goto out;
    }
    if (words < (pages + 63) / 64) {
        rc = vmm__err(VMM_EINVAL, "vmm_mem_dirty_log: bitmap of %zu words, need %llu", words,
                      (unsigned long long)((pages + 63) / 64));
        goto out;
    }
    rc = vm->hv->dirty_log(vm->hvm, r->slot, bitmap);
    /* KVM forgets what it reported; a snapshot restore still needs it. */
    if (rc == 0 && r->snap_dirty)
        for (size_t w = 0; w < (pages + 63) / 64; w++)
            if (bitmap[w])
                __atomic_fetch_or(&r->snap_dirty[w], bitmap[w], __ATOMIC_RELAXED);
out:
    pthread_rwlock_unlock(&vm->mem_lock);
    return rc;
}

void vmm__mem_free_all(vmm_vm *vm)
{
    for (size_t i = 0; i < vm->nregions; i++)
        free_region(&vm->regions[i]);
    free(vm->regions);
    free(vm->snap_scratch);
    vm->snap_scratch = NULL;
    vm->snap_scratch_words = 0;
    vm->regions = NULL;
    vm->nregions = vm->regions_cap = 0;
}

int vmm__mem_track(vmm_vm *vm)
{
    size_t words = 0;
    for (size_t i = 0; i < vm->nregions; i++) {
        size_t w = (size_t)((vm->regions[i].size / PAGE + 63) / 64);
        words = w > words ? w : words;
    }
    if (words > vm->snap_scratch_words) {
        uint64_t *n = calloc(words, sizeof *n);
        if (!n)
            return vmm__err(VMM_ENOMEM, "snapshot dirty bitmap: out of memory");
        free(vm->snap_scratch);
        vm->snap_scratch = n;
        vm->snap_scratch_words = words;
    }
    for (size_t i = 0; i < vm->nregions; i++) {
        struct vmm__region *r = &vm->regions[i];
        if (r->snap_dirty)
            continue;
        uint64_t *bm = calloc((size_t)((r->size / PAGE + 63) / 64), sizeof *bm);
        if (!bm)
            return vmm__err(VMM_ENOMEM, "snapshot dirty bitmap: out of memory");
        if (!(r->flags & VMM_MEM_DIRTY_LOG)) {
            /* The backend keeps the mapping. */
            int rc = vm->hv->mem_log_dirty(vm->hvm, r->slot);
            if (rc < 0) {
                free(bm);
                vmm__err_prefix("region 0x%llx: turning on dirty logging",
                                (unsigned long long)r->gpa);
                return rc;
            }
            r->flags |= VMM_MEM_DIRTY_LOG;
        }
        r->snap_dirty = bm;
    }
    return 0;
}

int vmm__mem_take_dirty(vmm_vm *vm, size_t i)
{
    const struct vmm__region *r = &vm->regions[i];
    size_t words = (size_t)((r->size / PAGE + 63) / 64);
    int rc = vm->hv->dirty_log(vm->hvm, r->slot, vm->snap_scratch);
    if (rc < 0)
        return rc;
    for (size_t w = 0; w < words; w++) {
        vm->snap_scratch[w] |= r->snap_dirty[w];
        r->snap_dirty[w] = 0;
    }
    return 0;
}

int vmm__mem_flush_shadow(vmm_vm *vm)
{
    return vm->nregions ? vm->hv->flush_shadow(vm->hvm) : 0;
}
