/* SPDX-License-Identifier: MIT */
/* Software walk of x86 guest page tables (SDM vol. 3, chapter 4 "Paging"). */
#include "internal.h"

#define CR0_PG   (1ull << 31)
#define CR0_WP   (1ull << 16)
#define CR4_PSE  (1ull << 4)
#define CR4_PAE  (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LMA (1ull << 10)

#define PTE_P     (1ull << 0)
#define PTE_W     (1ull << 1)
#define PTE_U     (1ull << 2)
#define PTE_PS    (1ull << 7)
#define ADDR_MASK 0x000ffffffffff000ull /* bits 51:12 */

static int fault(uint64_t gva, const char *why)
{
    return vmm__err(VMM_EFAULT, "guest virtual 0x%llx: %s", (unsigned long long)gva, why);
}

int vmm__x86_translate(const struct vmm__paging_state *ps, uint64_t gva, bool write, bool user,
                       vmm__phys_read_fn rd, void *ctx, uint64_t *gpa)
{
    if (!(ps->cr0 & CR0_PG)) {
        /* No paging: linear = physical (32 bits outside long mode). */
        *gpa = (ps->efer & EFER_LMA) ? gva : (gva & 0xffffffffull);
        return 0;
    }
    bool wp = ps->cr0 & CR0_WP;
    bool allow_w = true, allow_u = true;
    uint64_t table, entry = 0;
    int levels, shift;
    size_t esize;

    if (ps->efer & EFER_LMA) {
        levels = (ps->cr4 & CR4_LA57) ? 5 : 4;
        int bits = levels == 5 ? 57 : 48;
        /* Canonical: bits 63..bits-1 all equal. */
        int64_t sx = (int64_t)(gva << (64 - bits)) >> (64 - bits);
        if ((uint64_t)sx != gva)
            return fault(gva, "not canonical");
        table = ps->cr3 & ADDR_MASK;
        shift = 12 + 9 * (levels - 1);
        esize = 8;
    } else if (ps->cr4 & CR4_PAE) {
        gva &= 0xffffffffull;
        /* PAE: CR3 points at 4 PDPTEs (32-byte aligned). */
        uint64_t pdpte;
        if (rd(ctx, (ps->cr3 & 0xffffffe0ull) + ((gva >> 30) & 3) * 8, &pdpte, 8) < 0)
            return fault(gva, "PDPTE not in RAM");
        if (!(pdpte & PTE_P))
            return fault(gva, "PDPTE not present");
        table = pdpte & ADDR_MASK;
        levels = 2;
        shift = 21;
        esize = 8;
    } else {
        gva &= 0xffffffffull;
        table = ps->cr3 & 0xfffff000ull;
        levels = 2;
        shift = 22;
        esize = 4;
    }

    for (int level = levels; level >= 1; level--, shift -= (esize == 8 ? 9 : 10)) {
        unsigned int idx_bits = esize == 8 ? 9 : 10;
        uint64_t idx = (gva >> shift) & ((1ull << idx_bits) - 1);
        if (rd(ctx, table + idx * esize, &entry, esize) < 0)
            return fault(gva, "page table not in RAM");
        if (!(entry & PTE_P))
            return fault(gva, "not present");
        allow_w = allow_w && (entry & PTE_W);
        allow_u = allow_u && (entry & PTE_U);
        bool large = level > 1 && (entry & PTE_PS);
        if (large && esize == 4 && !(ps->cr4 & CR4_PSE))
            large = false;
        if (large && level > 3)
            return fault(gva, "reserved PS bit");
        if (large || level == 1) {
            uint64_t page_mask = (1ull << shift) - 1;
            uint64_t base;
            if (esize == 4 && large) /* 4 MiB page; PSE-36 bits 20:13 give PA 39:32 */
                base = (entry & 0xffc00000ull) | ((entry & 0x1fe000ull) << 19);
            else
                base = entry & ADDR_MASK & ~page_mask;
            if (user && !allow_u)
                return fault(gva, "not user-accessible");
            if (write && !allow_w && (user || wp))
                return fault(gva, "not writable");
            *gpa = base | (gva & page_mask);
            return 0;
        }
        table = esize == 8 ? entry & ADDR_MASK : entry & 0xfffff000ull;
    }
    return fault(gva, "walk did not terminate");
}

/* ---- every page-table page reachable from CR3 ---- */

struct table_walk {
    vmm__phys_read_fn rd;
    void *ctx;
    vmm__table_fn add;
    void *add_ctx;
    size_t visits, max;
    bool pse;
};

/* One table of esize-byte entries at level (1 = the last, whose entries map
 * pages); nentries is 512, 1024 or 4 (the PAE PDPT). */
static int walk_table(struct table_walk *w, uint64_t table, int level, size_t esize,
                      unsigned int nentries)
{
    int added = w->add(w->add_ctx, table & ~(uint64_t)(VMM_PAGE_SIZE - 1));
    if (added < 0)
        return -1;
    if (added == 0)
        return 0; /* seen before, and its children with it */
    /* Each table is scanned once, so the work is bounded by max tables. */
    if (++w->visits > w->max)
        return -1;
    if (level == 1)
        return 0; /* maps only pages */
    for (unsigned int i = 0; i < nentries; i++) {
        uint64_t e = 0;
        if (w->rd(w->ctx, table + i * esize, &e, esize) < 0)
            continue; /* not in RAM: the guest cannot use it either */
        if (!(e & PTE_P))
            continue;
        if (esize == 8 && nentries == 4) { /* PAE PDPTE -> page directory */
            if (walk_table(w, e & ADDR_MASK, level - 1, 8, 512) < 0)
                return -1;
            continue;
        }
        if (e & PTE_PS) {
            if (esize == 4 ? w->pse : level <= 3)
                continue; /* a large page */
            if (esize == 8)
                continue; /* reserved: the CPU would fault */
        }
        uint64_t child = esize == 8 ? e & ADDR_MASK : e & 0xfffff000ull;
        if (walk_table(w, child, level - 1, esize, esize == 8 ? 512 : 1024) < 0)
            return -1;
    }
    return 0;
}

int vmm__x86_table_pages(const struct vmm__paging_state *ps, vmm__phys_read_fn rd, void *ctx,
                         vmm__table_fn add, void *add_ctx, size_t max)
{
    if (!(ps->cr0 & CR0_PG))
        return 0;
    struct table_walk w = {rd, ctx, add, add_ctx, 0, max, (ps->cr4 & CR4_PSE) != 0};
    if (ps->efer & EFER_LMA)
        return walk_table(&w, ps->cr3 & ADDR_MASK, (ps->cr4 & CR4_LA57) ? 5 : 4, 8, 512);
    if (ps->cr4 & CR4_PAE)
        return walk_table(&w, ps->cr3 & 0xffffffe0ull, 3, 8, 4);
    return walk_table(&w, ps->cr3 & 0xfffff000ull, 2, 4, 1024);
}
