/* SPDX-License-Identifier: MIT */
/* The sandbox's heap: brk and anonymous mmap, munmap and mremap inside guest
 * RAM, tracked page by page in a bitmap and handed out zeroed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox_internal.h"

#define PAGE                 4096ull
#define MAP_SHARED_          0x01
#define MAP_PRIVATE_         0x02
#define MAP_FIXED_           0x10
#define MAP_ANONYMOUS_       0x20
#define MAP_FIXED_NOREPLACE_ 0x100000
#define MREMAP_MAYMOVE_      1

static bool bit(const uint64_t *bm, uint64_t i)
{
    return bm[i / 64] >> (i % 64) & 1;
}

static void set_bits(uint64_t *bm, uint64_t first, uint64_t n, bool on)
{
    for (uint64_t i = first; i < first + n; i++) {
        if (on)
            bm[i / 64] |= 1ull << (i % 64);
        else
            bm[i / 64] &= ~(1ull << (i % 64));
    }
}

int vmm__sbx_mm_init(vmm_sandbox *sb, uint64_t heap_lo, uint64_t heap_hi)
{
    struct vmm__sbx_mm *mm = &sb->mm;
    if (heap_lo >= heap_hi)
        return vmm__err(VMM_ENOMEM, "the program leaves no memory for its heap");
    uint64_t pages = (heap_hi - heap_lo) / PAGE;
    mm->words = (size_t)((pages + 63) / 64);
    mm->mapped = calloc(mm->words, sizeof(uint64_t));
    mm->used = calloc(mm->words, sizeof(uint64_t));
    if (!mm->mapped || !mm->used)
        return vmm__err(VMM_ENOMEM, "out of memory");
    mm->heap_lo = heap_lo;
    mm->heap_hi = heap_hi;
    mm->brk = heap_lo;
    return 0;
}

void vmm__sbx_mm_reset(vmm_sandbox *sb)
{
    struct vmm__sbx_mm *mm = &sb->mm;
    if (!mm->mapped)
        return;
    memset(mm->mapped, 0, mm->words * sizeof(uint64_t));
    memset(mm->used, 0, mm->words * sizeof(uint64_t));
    mm->brk = mm->heap_lo;
}

void vmm__sbx_mm_free(vmm_sandbox *sb)
{
    free(sb->mm.mapped);
    free(sb->mm.used);
    memset(&sb->mm, 0, sizeof sb->mm);
}

/* Hand pages [first, first+n) of the heap to the program: zero those it had
 * before (the rest are still zero from the snapshot). */
static int hand_out(vmm_sandbox *sb, uint64_t first, uint64_t n)
{
    struct vmm__sbx_mm *mm = &sb->mm;
    for (uint64_t i = first; i < first + n;) {
        if (!bit(mm->used, i)) {
            i++;
            continue;
        }
        uint64_t j = i;
        while (j < first + n && bit(mm->used, j))
            j++;
        void *p;
        int rc = vmm_mem_host_ptr(sb->vm, mm->heap_lo + i * PAGE, (j - i) * PAGE, &p);
        if (rc < 0)
            return rc;
        memset(p, 0, (size_t)((j - i) * PAGE));
        i = j;
    }
    set_bits(mm->used, first, n, true);
    return 0;
}

/* First heap page brk does not cover. */
static uint64_t brk_pages(const struct vmm__sbx_mm *mm)
{
    return (mm->brk - mm->heap_lo + PAGE - 1) / PAGE;
}

int64_t vmm__sbx_brk(vmm_sandbox *sb, uint64_t want)
{
    struct vmm__sbx_mm *mm = &sb->mm;
    if (want < mm->heap_lo || want > mm->heap_hi)
        return (int64_t)mm->brk;
    uint64_t old = brk_pages(mm), need = (want - mm->heap_lo + PAGE - 1) / PAGE;
    for (uint64_t i = old; i < need; i++)
        if (bit(mm->mapped, i))
            return (int64_t)mm->brk; /* would run into a mapping */
    if (need > old && hand_out(sb, old, need - old) < 0)
        return (int64_t)mm->brk;
    mm->brk = want;
    return (int64_t)want;
}

/* Highest run of n free pages above the break; returns its first page or -1. */
static int64_t find_free(const struct vmm__sbx_mm *mm, uint64_t n)
{
    uint64_t lo = brk_pages(mm), p = (mm->heap_hi - mm->heap_lo) / PAGE, run = 0;
    while (p > lo) {
        p--;
        if (p % 64 == 63 && p - 63 >= lo && mm->mapped[p / 64] == ~0ull) {
            run = 0; /* a whole word of taken pages */
            p -= 63;
            continue;
        }
        run = bit(mm->mapped, p) ? 0 : run + 1;
        if (run == n)
            return (int64_t)p;
    }
    return -1;
}

int64_t vmm__sbx_mmap(vmm_sandbox *sb, const uint64_t *a)
{
    struct vmm__sbx_mm *mm = &sb->mm;
    uint64_t addr = a[0], len = a[1], flags = a[3];
    int64_t fd = (int64_t)a[4];
    if (!(flags & MAP_ANONYMOUS_) || fd != -1)
        return -ENODEV; /* no files in a sandbox */
    if ((flags & (MAP_SHARED_ | MAP_PRIVATE_)) == 0 || len == 0 || (addr & (PAGE - 1)))
        return -EINVAL;
    if (len > mm->heap_hi - mm->heap_lo)
        return -ENOMEM;
    uint64_t n = (len + PAGE - 1) / PAGE;
    uint64_t first;
    if (flags & (MAP_FIXED_ | MAP_FIXED_NOREPLACE_)) {
        if (addr < mm->heap_lo + brk_pages(mm) * PAGE || addr > mm->heap_hi ||
            n * PAGE > mm->heap_hi - addr)
            return -ENOMEM;
        first = (addr - mm->heap_lo) / PAGE;
        if (flags & MAP_FIXED_NOREPLACE_)
            for (uint64_t i = first; i < first + n; i++)
                if (bit(mm->mapped, i))
                    return -EEXIST;
    } else {
        int64_t f = find_free(mm, n);
        if (f < 0)
            return -ENOMEM;
        first = (uint64_t)f;
    }
    if (hand_out(sb, first, n) < 0)
        return -ENOMEM;
    set_bits(mm->mapped, first, n, true);
    return (int64_t)(mm->heap_lo + first * PAGE);
}

int64_t vmm__sbx_munmap(vmm_sandbox *sb, uint64_t addr, uint64_t len)
{
    struct vmm__sbx_mm *mm = &sb->mm;
    if ((addr & (PAGE - 1)) || len == 0 || !vmm__sbx_user_range(sb, addr, len))
        return -EINVAL;
    /* Only mmap'd heap pages are given back; the rest stays as it is. */
    uint64_t end = addr + (len + PAGE - 1) / PAGE * PAGE;
    uint64_t lo = addr > mm->heap_lo ? addr : mm->heap_lo;
    uint64_t hi = end < mm->heap_hi ? end : mm->heap_hi;
    for (uint64_t p = lo; p < hi; p += PAGE) {
        uint64_t i = (p - mm->heap_lo) / PAGE;
        if (i >= brk_pages(mm))
            set_bits(mm->mapped, i, 1, false);
    }
    return 0;
}

/* Grow or shrink an mmap'd range: in place when the pages above are free,
 * else (MREMAP_MAYMOVE) to new pages, copying the contents. */
int64_t vmm__sbx_mremap(vmm_sandbox *sb, const uint64_t *a)
{
    struct vmm__sbx_mm *mm = &sb->mm;
    uint64_t old = a[0], old_len = a[1], new_len = a[2], flags = a[3];
    if ((old & (PAGE - 1)) || new_len == 0 || (flags & ~(uint64_t)MREMAP_MAYMOVE_))
        return -EINVAL;
    uint64_t total = (mm->heap_hi - mm->heap_lo) / PAGE;
    if (old_len > mm->heap_hi - mm->heap_lo || new_len > mm->heap_hi - mm->heap_lo)
        return -ENOMEM;
    uint64_t on = (old_len + PAGE - 1) / PAGE, nn = (new_len + PAGE - 1) / PAGE;
    if (on == 0 || old < mm->heap_lo || old >= mm->heap_hi ||
        (old - mm->heap_lo) / PAGE + on > total)
        return -EFAULT;
    uint64_t first = (old - mm->heap_lo) / PAGE;
    for (uint64_t i = first; i < first + on; i++)
        if (!bit(mm->mapped, i))
            return -EFAULT; /* not a mapping of ours */
    if (nn <= on) {
        set_bits(mm->mapped, first + nn, on - nn, false);
        return (int64_t)old;
    }
    bool room = first + nn <= total;
    for (uint64_t i = first + on; room && i < first + nn; i++)
        room = !bit(mm->mapped, i);
    if (room) {
        if (hand_out(sb, first + on, nn - on) < 0)
            return -ENOMEM;
        set_bits(mm->mapped, first + on, nn - on, true);
        return (int64_t)old;
    }
    if (!(flags & MREMAP_MAYMOVE_))
        return -ENOMEM;
    int64_t to = find_free(mm, nn);
    if (to < 0 || hand_out(sb, (uint64_t)to, nn) < 0)
        return -ENOMEM;
    void *dst, *src;
    if (vmm_mem_host_ptr(sb->vm, mm->heap_lo + (uint64_t)to * PAGE, on * PAGE, &dst) < 0 ||
        vmm_mem_host_ptr(sb->vm, old, on * PAGE, &src) < 0)
        return -ENOMEM;
    memcpy(dst, src, (size_t)(on * PAGE)); /* free pages never overlap taken ones */
    set_bits(mm->mapped, (uint64_t)to, nn, true);
    set_bits(mm->mapped, first, on, false);
    return (int64_t)(mm->heap_lo + (uint64_t)to * PAGE);
}
