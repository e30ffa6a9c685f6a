/* SPDX-License-Identifier: MIT */
/* Unit tests of the software x86 page-table walk over fake guest memory
 * (SDM vol. 3, chapter 4: 32-bit, PAE, 4-level and 5-level paging). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

#define MEM_SIZE (1ull << 20)

#define CR0_PE   (1ull << 0)
#define CR0_WP   (1ull << 16)
#define CR0_PG   (1ull << 31)
#define CR4_PSE  (1ull << 4)
#define CR4_PAE  (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define P         (1ull << 0)
#define W         (1ull << 1)
#define U         (1ull << 2)
#define PS        (1ull << 7)
#define PAT_L     (1ull << 12) /* PAT bit of a large-page entry */
#define NX        (1ull << 63)
#define PWT_PCD   0x18ull
#define PRW       (P | W | U)
#define ADDR_MASK 0x000ffffffffff000ull

/* ---- fake guest memory ---- */

static uint8_t *mem;
static unsigned int reads;
static uint64_t next_table;

static int mem_read(void *ctx, uint64_t gpa, uint64_t *val, size_t size)
{
    (void)ctx;
    reads++;
    *val = 0;
    if (size > sizeof *val || gpa > MEM_SIZE || MEM_SIZE - gpa < size)
        return VMM_EFAULT;
    memcpy(val, mem + gpa, size);
    return 0;
}

static void put64(uint64_t gpa, uint64_t v)
{
    assert_true(gpa + 8 <= MEM_SIZE);
    memcpy(mem + gpa, &v, 8);
}

static uint64_t get64(uint64_t gpa)
{
    uint64_t v;
    memcpy(&v, mem + gpa, 8);
    return v;
}

static void put32(uint64_t gpa, uint32_t v)
{
    assert_true(gpa + 4 <= MEM_SIZE);
    memcpy(mem + gpa, &v, 4);
}

static uint32_t get32(uint64_t gpa)
{
    uint32_t v;
    memcpy(&v, mem + gpa, 4);
    return v;
}

static uint64_t alloc_table(void)
{
    uint64_t a = next_table;
    next_table += 0x1000;
    assert_true(next_table <= MEM_SIZE);
    return a;
}

static int setup(void **st)
{
    (void)st;
    mem = calloc(1, MEM_SIZE);
    reads = 0;
    next_table = 0x1000;
    return mem ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    free(mem);
    mem = NULL;
    return 0;
}

static int xlate(const struct vmm__paging_state *ps, uint64_t gva, bool write, bool user,
                 uint64_t *gpa)
{
    reads = 0;
    *gpa = 0xdeadbeef;
    return vmm__x86_translate(ps, gva, write, user, mem_read, NULL, gpa);
}

/* Translate, expecting success. */
static uint64_t ok(const struct vmm__paging_state *ps, uint64_t gva, bool write, bool user)
{
    uint64_t gpa;
    int rc = xlate(ps, gva, write, user, &gpa);
    if (rc != 0)
        fail_msg("translating 0x%llx failed: %d %s", (unsigned long long)gva, rc,
                 vmm_error_last()->message);
    return gpa;
}

/* Translate, expecting VMM_EFAULT with why in the message. */
static void fault(const struct vmm__paging_state *ps, uint64_t gva, bool write, bool user,
                  const char *why)
{
    uint64_t gpa;
    vmm_error_clear();
    int rc = xlate(ps, gva, write, user, &gpa);
    if (rc != VMM_EFAULT)
        fail_msg("translating 0x%llx: rc %d (gpa 0x%llx), expected VMM_EFAULT",
                 (unsigned long long)gva, rc, (unsigned long long)gpa);
    assert_int_equal(vmm_error_last()->code, VMM_EFAULT);
    if (why && !strstr(vmm_error_last()->message, why))
        fail_msg("message \"%s\" lacks \"%s\"", vmm_error_last()->message, why);
}

/* ---- building 64-bit (4- and 5-level) page tables ---- */

/* Address of the entry for gva at level (1 = PTE ... 5 = PML5E), following
 * present entries from root. */
static uint64_t entry64(uint64_t root, int levels, uint64_t gva, int level)
{
    uint64_t table = root;
    for (int l = levels;; l--) {
        uint64_t ea = table + ((gva >> (12 + 9 * (l - 1))) & 0x1ff) * 8;
        if (l == level)
            return ea;
        uint64_t e = get64(ea);
        assert_true(e & P);
        table = e & ADDR_MASK;
    }
}

/* Map gva to pa with a leaf at leaf_level (1: 4 KiB, 2: 2 MiB, 3: 1 GiB); every
 * entry gets flags; tables come from the bump allocator. */
static void map64(uint64_t root, int levels, uint64_t gva, uint64_t pa, int leaf_level,
                  uint64_t flags)
{
    uint64_t table = root;
    for (int l = levels;; l--) {
        uint64_t ea = table + ((gva >> (12 + 9 * (l - 1))) & 0x1ff) * 8;
        if (l == leaf_level) {
            put64(ea, pa | flags | (l > 1 ? PS : 0));
            return;
        }
        uint64_t e = get64(ea);
        if (!(e & P)) {
            e = alloc_table() | flags;
            put64(ea, e);
        }
        table = e & ADDR_MASK;
    }
}

static struct vmm__paging_state long_mode(uint64_t root, bool la57)
{
    struct vmm__paging_state ps = {CR0_PG | CR0_PE, root | PWT_PCD, CR4_PAE | (la57 ? CR4_LA57 : 0),
                                   EFER_LME | EFER_LMA};
    return ps;
}

#define GVA4(i4, i3, i2, i1, off)                                                                  \
    (((uint64_t)(i4) << 39) | ((uint64_t)(i3) << 30) | ((uint64_t)(i2) << 21) |                    \
     ((uint64_t)(i1) << 12) | (uint64_t)(off))

/* ---- tests ---- */

static void test_paging_off(void **st)
{
    (void)st;
    struct vmm__paging_state ps = {CR0_PE, 0x1000, 0, 0};
    /* Outside long mode linear addresses are 32 bits. */
    assert_int_equal(ok(&ps, 0x123456789ull, false, false), 0x23456789ull);
    assert_int_equal(ok(&ps, 0xffffffffffffffffull, true, true), 0xffffffffull);
    assert_int_equal(reads, 0); /* no table is read */
    ps.cr0 = 0;
    ps.cr4 = CR4_PAE | CR4_PSE;
    assert_int_equal(ok(&ps, 0x1ffffull, true, true), 0x1ffffull);
    /* CR3 garbage does not matter with paging off. */
    ps.cr3 = UINT64_MAX;
    assert_int_equal(ok(&ps, 0xabcdef, false, false), 0xabcdef);
    ps.efer = EFER_LMA;
    assert_int_equal(ok(&ps, 0x123456789ull, false, false), 0x123456789ull);
    assert_int_equal(reads, 0);
}

static void test_long4_4k(void **st)
{
    (void)st;
    uint64_t root = alloc_table();
    struct vmm__paging_state ps = long_mode(root, false);
    uint64_t gva = GVA4(0x12, 0x34, 0x56, 0x78, 0xabc);
    map64(root, 4, gva, 0x123000, 1, PRW);
    assert_int_equal(ok(&ps, gva, false, false), 0x123abc);
    assert_int_equal(reads, 4);
    assert_int_equal(ok(&ps, gva, true, true), 0x123abc);
    /* NX, protection-key and available bits are not address bits; 51:12 are. */
    uint64_t pte = entry64(root, 4, gva, 1);
    put64(pte, NX | (0xfull << 59) | (0x7full << 52) | 0xfedcba987000ull | 0xe00 | PRW);
    assert_int_equal(ok(&ps, gva, false, false), 0xfedcba987abcull);
    /* Neighbouring pages are not mapped. */
    fault(&ps, gva + 0x1000, false, false, "not present");
    fault(&ps, gva - 0x1000, false, false, "not present");

    /* The top of the higher half: all indices 511. */
    uint64_t hi = 0xfffffffffffff123ull;
    map64(root, 4, hi, 0x77000, 1, PRW);
    assert_int_equal(ok(&ps, hi, false, false), 0x77123);
    /* The first higher-half address. */
    uint64_t lo_hi = 0xffff800000000456ull;
    map64(root, 4, lo_hi, 0x88000, 1, PRW);
    assert_int_equal(ok(&ps, lo_hi, false, false), 0x88456);
    /* Address 0 can be mapped like any other. */
    map64(root, 4, 0, 0x99000, 1, PRW);
    assert_int_equal(ok(&ps, 0x10, false, false), 0x99010);
}

static void test_long4_2m(void **st)
{
    (void)st;
    uint64_t root = alloc_table();
    struct vmm__paging_state ps = long_mode(root, false);
    uint64_t gva = GVA4(1, 2, 3, 0x1ab, 0xcde);
    map64(root, 4, gva, 0x40000000, 2, PRW | PAT_L);
    /* The PAT bit (12) of a large page is not an address bit. */
    assert_int_equal(ok(&ps, gva, false, false), 0x40000000ull | (gva & 0x1fffff));
    assert_int_equal(reads, 3);
    assert_int_equal(ok(&ps, gva & ~0x1fffffull, false, false), 0x40000000ull);
    assert_int_equal(ok(&ps, gva | 0x1fffff, false, false), 0x401fffffull);
}

static void test_long4_1g(void **st)
{
    (void)st;
    uint64_t root = alloc_table();
    struct vmm__paging_state ps = long_mode(root, false);
    uint64_t gva = GVA4(5, 6, 0x1ff, 0x1ff, 0xfff);
    map64(root, 4, gva, 0x3c0000000ull, 3, PRW | PAT_L);
    assert_int_equal(ok(&ps, gva, false, false), 0x3c0000000ull | (gva & 0x3fffffff));
    assert_int_equal(reads, 2);
    assert_int_equal(ok(&ps, gva & ~0x3fffffffull, false, false), 0x3c0000000ull);
    /* PS in a PML4 entry is reserved: no 512 GiB pages. */
    uint64_t gva2 = GVA4(7, 0, 0, 0, 0x10);
    put64(root + 7 * 8, 0x8000000000ull | PRW | PS);
    fault(&ps, gva2, false, false, "reserved");
}

static void test_long5(void **st)
{
    (void)st;
    uint64_t root = alloc_table();
    struct vmm__paging_state ps5 = long_mode(root, true);
    /* Index 3 in bits 56:48: canonical with 57-bit addresses only. */
    uint64_t gva = (3ull << 48) | GVA4(0x12, 0x34, 0x56, 0x78, 0x9ab);
    map64(root, 5, gva, 0x456000, 1, PRW);
    assert_int_equal(ok(&ps5, gva, false, false), 0x4569ab);
    assert_int_equal(reads, 5);
    /* The same address under 4-level paging is not canonical. */
    struct vmm__paging_state ps4 = long_mode(root, false);
    fault(&ps4, gva, false, false, "not canonical");
    /* Higher half of the 57-bit space, 2 MiB and 1 GiB pages. */
    uint64_t hi = 0xff00000000000000ull | GVA4(1, 1, 1, 0, 0x123);
    map64(root, 5, hi, 0x600000, 2, PRW);
    assert_int_equal(ok(&ps5, hi, false, false), 0x600123);
    assert_int_equal(reads, 4);
    uint64_t g1 = (0x1ffull << 48) | GVA4(0x1ff, 3, 0, 0, 0x42);
    g1 |= 0xfe00000000000000ull; /* sign-extend bit 56 */
    map64(root, 5, g1, 0x80000000ull, 3, PRW);
    assert_int_equal(ok(&ps5, g1, false, false), 0x80000042ull);
    /* PS is reserved in PML5 and PML4 entries. */
    uint64_t e4 = entry64(root, 5, gva, 4);
    put64(e4, get64(e4) | PS);
    fault(&ps5, gva, false, false, "reserved");
    uint64_t e5 = entry64(root, 5, hi, 5);
    put64(e5, get64(e5) | PS);
    fault(&ps5, hi, false, false, "reserved");
}

static void test_pae(void **st)
{
    (void)st;
    const uint64_t pdpt = 0x6020; /* 32-byte aligned, not page aligned */
    struct vmm__paging_state ps = {CR0_PG | CR0_PE, pdpt | PWT_PCD, CR4_PAE, 0};
    uint32_t gva = (2u << 30) | (0x56u << 21) | (0x78u << 12) | 0xabc;
    put64(pdpt + 2 * 8, 0x7000 | P);
    put64(0x7000 + 0x56 * 8, 0x8000 | PRW);
    put64(0x8000 + 0x78 * 8, 0x9a000 | PRW);
    assert_int_equal(ok(&ps, gva, false, false), 0x9aabc);
    assert_int_equal(reads, 3);
    /* Linear addresses are 32 bits: upper bits are ignored. */
    assert_int_equal(ok(&ps, gva | 0xabcd00000000ull, true, true), 0x9aabc);
    /* PAE reaches physical addresses above 4 GiB; NX is not an address bit. */
    put64(0x8000 + 0x79 * 8, NX | 0x12345678000ull | PRW);
    assert_int_equal(ok(&ps, gva + 0x1000, false, false), 0x12345678abcull);
    /* A 2 MiB page, regardless of CR4.PSE. */
    put64(0x7000 + 0x57 * 8, 0x200000 | PS | PRW | PAT_L);
    uint32_t big = (2u << 30) | (0x57u << 21) | 0x12345;
    assert_int_equal(ok(&ps, big, false, false), 0x212345);
    assert_int_equal(reads, 2);
    ps.cr4 |= CR4_PSE;
    assert_int_equal(ok(&ps, big, false, false), 0x212345);
    /* Other PDPTEs are not present. */
    fault(&ps, (1u << 30) | 0x123, false, false, "PDPTE not present");
    fault(&ps, (3u << 30), false, false, "PDPTE not present");
    /* CR3's low 5 bits are ignored: the PDPTEs sit at 0x6020. */
    ps.cr3 = pdpt | 0x1f;
    assert_int_equal(ok(&ps, gva, false, false), 0x9aabc);
}

static void test_32bit(void **st)
{
    (void)st;
    struct vmm__paging_state ps = {CR0_PG | CR0_PE, 0xa000 | PWT_PCD, 0, 0};
    uint32_t gva = (0x48u << 22) | (0x78u << 12) | 0xabc;
    put32(0xa000 + 0x48 * 4, 0xb000 | PRW);
    put32(0xb000 + 0x78 * 4, 0x5f000 | PRW);
    assert_int_equal(ok(&ps, gva, false, false), 0x5fabc);
    assert_int_equal(reads, 2);
    assert_int_equal(ok(&ps, gva | (1ull << 40), true, true), 0x5fabc);
    /* The top of the 4 GiB space. */
    put32(0xa000 + 0x3ff * 4, 0xc000 | PRW);
    put32(0xc000 + 0x3ff * 4, 0xfffff000u | PRW);
    assert_int_equal(ok(&ps, 0xffffffffull, false, false), 0xffffffffull);
    /* Entries are 4 bytes: the neighbouring entry's bits do not leak in. */
    put32(0xb000 + 0x79 * 4, 0xffffffffu);
    put32(0xb000 + 0x7a * 4, 0x33000 | PRW);
    assert_int_equal(ok(&ps, gva + 0x2000, false, false), 0x33abc);
}

static void test_32bit_pse(void **st)
{
    (void)st;
    struct vmm__paging_state ps = {CR0_PG | CR0_PE, 0xa000, CR4_PSE, 0};
    /* A 4 MiB page; the PAT bit (12) is not an address bit. */
    put32(0xa000 + 0x49 * 4, 0x00c00000u | PS | PRW | PAT_L);
    uint32_t gva = (0x49u << 22) | 0x123456;
    assert_int_equal(ok(&ps, gva, false, false), 0xc00000 | 0x123456);
    assert_int_equal(reads, 1);
    /* PSE-36: PDE bits 20:13 hold physical address bits 39:32. */
    put32(0xa000 + 0x4a * 4, 0x00400000u | (0x3u << 13) | PS | PRW);
    uint32_t gva2 = (0x4au << 22) | 0x2abcd;
    assert_int_equal(ok(&ps, gva2, false, false), 0x300400000ull | 0x2abcd);

    /* PS with CR4.PSE clear is ignored: the PDE points at a page table. */
    put32(0xa000 + 0x4b * 4, 0xc000u | PS | PRW);
    put32(0xc000 + 0x12 * 4, 0x77000 | PRW);
    uint32_t gva3 = (0x4bu << 22) | (0x12u << 12) | 0x345;
    /* With CR4.PSE it is a 4 MiB page, PDE bits 15:14 giving PA bits 34:33. */
    assert_int_equal(ok(&ps, gva3, false, false), 0x600000000ull | (gva3 & 0x3fffff));
    ps.cr4 = 0;
    assert_int_equal(ok(&ps, gva3, false, false), 0x77345);
    assert_int_equal(reads, 2);
}

static void test_not_present_each_level(void **st)
{
    (void)st;
    for (int levels = 4; levels <= 5; levels++) {
        next_table = 0x1000;
        memset(mem, 0, MEM_SIZE);
        uint64_t root = alloc_table();
        struct vmm__paging_state ps = long_mode(root, levels == 5);
        uint64_t gva = GVA4(0x21, 0x43, 0x65, 0x87, 0x10);
        map64(root, levels, gva, 0x50000, 1, PRW);
        assert_int_equal(ok(&ps, gva, false, false), 0x50010);
        for (int l = levels; l >= 1; l--) {
            uint64_t ea = entry64(root, levels, gva, l);
            uint64_t e = get64(ea);
            put64(ea, e & ~P); /* everything else intact */
            fault(&ps, gva, false, false, "not present");
            /* The message names the address. */
            char hex[32];
            snprintf(hex, sizeof hex, "0x%llx", (unsigned long long)gva);
            assert_non_null(strstr(vmm_error_last()->message, hex));
            fault(&ps, gva, true, false, "not present");
            put64(ea, e);
            assert_int_equal(ok(&ps, gva, false, false), 0x50010);
        }
    }
    /* Large-page leaves too. */
    memset(mem, 0, MEM_SIZE);
    next_table = 0x1000;
    uint64_t root = alloc_table();
    struct vmm__paging_state ps = long_mode(root, false);
    uint64_t g2 = GVA4(1, 1, 1, 0, 0);
    map64(root, 4, g2, 0x200000, 2, PRW);
    uint64_t ea = entry64(root, 4, g2, 2);
    put64(ea, get64(ea) & ~P);
    fault(&ps, g2, false, false, "not present");

    /* 32-bit: PDE, PTE. */
    struct vmm__paging_state p32 = {CR0_PG | CR0_PE, 0xa000, CR4_PSE, 0};
    put32(0xa000 + 4, 0xb000 | W | U); /* not present, rest set */
    fault(&p32, 1u << 22, false, false, "not present");
    put32(0xa000 + 4, 0xb000 | PRW);
    put32(0xb000, 0x5000 | W | U);
    fault(&p32, 1u << 22, false, false, "not present");
    put32(0xa000 + 8, 0x00800000u | PS | W | U); /* non-present 4 MiB page */
    fault(&p32, 2u << 22, false, false, "not present");

    /* PAE: PDPTE, PDE, PTE. */
    struct vmm__paging_state pae = {CR0_PG | CR0_PE, 0x6000, CR4_PAE, 0};
    put64(0x6000, 0x7000);
    fault(&pae, 0x1000, false, false, "PDPTE not present");
    put64(0x6000, 0x7000 | P);
    put64(0x7000, 0x8000 | W | U);
    fault(&pae, 0x1000, false, false, "not present");
    put64(0x7000, 0x8000 | PRW);
    put64(0x8000 + 8, 0x9000 | W | U);
    fault(&pae, 0x1000, false, false, "not present");
    put64(0x8000 + 8, 0x9000 | PRW);
    assert_int_equal(ok(&pae, 0x1234, false, false), 0x9234);
}

static void test_non_canonical(void **st)
{
    (void)st;
    uint64_t root = alloc_table();
    /* Map everything the walk could touch, so only canonicality can fail. */
    for (int i = 0; i < 512; i++)
        put64(root + i * 8ull, root | PRW);
    struct vmm__paging_state ps4 = long_mode(root, false);
    static const uint64_t bad4[] = {0x0000800000000000ull, 0xffff7fffffffffffull,
                                    0x8000000000000000ull, 0x00ff000000000000ull,
                                    0x0001000000000000ull, 0x7fffffffffffffffull};
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad4); i++) {
        fault(&ps4, bad4[i], false, false, "not canonical");
        assert_int_equal(reads, 0);
    }
    /* The edges of the canonical halves are fine. */
    ok(&ps4, 0x00007fffffffffffull, false, false);
    ok(&ps4, 0xffff800000000000ull, false, false);

    struct vmm__paging_state ps5 = long_mode(root, true);
    static const uint64_t bad5[] = {0x0100000000000000ull, 0xfeffffffffffffffull,
                                    0x8000000000000000ull, 0x7f00000000000000ull};
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad5); i++) {
        fault(&ps5, bad5[i], false, false, "not canonical");
        assert_int_equal(reads, 0);
    }
    ok(&ps5, 0x00ffffffffffffffull, false, false);
    ok(&ps5, 0xff00000000000000ull, false, false);
    ok(&ps5, 0x0000800000000000ull, false, false);
}

static void test_user_access_to_supervisor_page(void **st)
{
    (void)st;
    uint64_t root = alloc_table();
    struct vmm__paging_state ps = long_mode(root, false);
    uint64_t gva = GVA4(3, 4, 5, 6, 0x78);
    map64(root, 4, gva, 0x66000, 1, PRW);
    assert_int_equal(ok(&ps, gva, false, true), 0x66078);
    /* U clear at any one level makes the page supervisor-only. */
    for (int l = 4; l >= 1; l--) {
        uint64_t ea = entry64(root, 4, gva, l);
        uint64_t e = get64(ea);
        put64(ea, e & ~U);
        fault(&ps, gva, false, true, "not user-accessible");
        fault(&ps, gva, true, true, NULL);
        assert_int_equal(ok(&ps, gva, false, false), 0x66078);
        assert_int_equal(ok(&ps, gva, true, false), 0x66078);
        put64(ea, e);
    }
    /* A supervisor-only 2 MiB page. */
    uint64_t g2 = GVA4(3, 4, 6, 0, 0x10);
    map64(root, 4, g2, 0x400000, 2, P | W);
    uint64_t e3 = entry64(root, 4, g2, 3);
    assert_true(get64(e3) & U);
    fault(&ps, g2, false, true, "not user-accessible");
    assert_int_equal(ok(&ps, g2, false, false), 0x400010);

    /* 32-bit paging, U clear in the PDE. */
    struct vmm__paging_state p32 = {CR0_PG | CR0_PE, 0xa000, 0, 0};
    put32(0xa000, 0xb000 | P | W);
    put32(0xb000, 0x5000 | PRW);
    fault(&p32, 0x10, false, true, "not user-accessible");
    assert_int_equal(ok(&p32, 0x10, false, false), 0x5010);
}

static void test_write_to_read_only_page(void **st)
{
    (void)st;
    uint64_t root = alloc_table();
    struct vmm__paging_state ps = long_mode(root, false);
    uint64_t gva = GVA4(9, 8, 7, 6, 0x5);
    map64(root, 4, gva, 0x44000, 1, PRW);
    for (int l = 4; l >= 1; l--) {
        uint64_t ea = entry64(root, 4, gva, l);
        uint64_t e = get64(ea);
        put64(ea, e & ~W);
        ps.cr0 &= ~CR0_WP;
        /* Reads are fine for everyone. */
        assert_int_equal(ok(&ps, gva, false, true), 0x44005);
        assert_int_equal(ok(&ps, gva, false, false), 0x44005);
        /* User writes are always refused. */
        fault(&ps, gva, true, true, "not writable");
        /* Supervisor writes only when CR0.WP is set. */
        assert_int_equal(ok(&ps, gva, true, false), 0x44005);
        ps.cr0 |= CR0_WP;
        fault(&ps, gva, true, false, "not writable");
        fault(&ps, gva, true, true, "not writable");
        assert_int_equal(ok(&ps, gva, false, true), 0x44005);
        put64(ea, e);
        assert_int_equal(ok(&ps, gva, true, true), 0x44005);
    }
    /* A read-only 1 GiB page. */
    uint64_t g1 = GVA4(9, 9, 0, 0, 0x77);
    map64(root, 4, g1, 0x40000000, 3, P | U);
    fault(&ps, g1, true, false, "not writable");
    ps.cr0 &= ~CR0_WP;
    assert_int_equal(ok(&ps, g1, true, false), 0x40000077);

    /* 32-bit and PAE paging apply the same rule. */
    struct vmm__paging_state p32 = {CR0_PG | CR0_PE, 0xa000, CR4_PSE, 0};
    put32(0xa000, 0x00400000u | PS | P | U);
    fault(&p32, 0x10, true, true, "not writable");
    assert_int_equal(ok(&p32, 0x10, true, false), 0x400010);
    p32.cr0 |= CR0_WP;
    fault(&p32, 0x10, true, false, "not writable");

    struct vmm__paging_state pae = {CR0_PG | CR0_PE | CR0_WP, 0x6000, CR4_PAE, 0};
    put64(0x6000, 0x7000 | P);
    put64(0x7000, 0x8000 | P | U);
    put64(0x8000, 0x9000 | PRW);
    fault(&pae, 0x10, true, false, "not writable");
    assert_int_equal(ok(&pae, 0x10, false, true), 0x9010);
}

static void test_tables_outside_memory(void **st)
{
    (void)st;
    /* CR3 beyond RAM, in each mode. */
    struct vmm__paging_state ps = long_mode(MEM_SIZE, false);
    fault(&ps, 0x1000, false, false, "not in RAM");
    ps = long_mode(0x000ffffffffff000ull, true);
    fault(&ps, 0x1000, false, false, "not in RAM");
    struct vmm__paging_state p32 = {CR0_PG | CR0_PE, 0xfffff000u, 0, 0};
    fault(&p32, 0x1000, false, false, "not in RAM");
    struct vmm__paging_state pae = {CR0_PG | CR0_PE, 0xffffffe0u, CR4_PAE, 0};
    fault(&pae, 0x1000, false, false, "PDPTE not in RAM");

    /* A lower-level table beyond RAM. */
    uint64_t root = alloc_table();
    ps = long_mode(root, false);
    uint64_t gva = GVA4(1, 2, 3, 4, 5);
    map64(root, 4, gva, 0x1000, 1, PRW);
    uint64_t ea = entry64(root, 4, gva, 2);
    uint64_t e = get64(ea);
    put64(ea, 0x40000000ull | PRW);
    fault(&ps, gva, false, false, "not in RAM");
    put64(ea, ADDR_MASK | PRW); /* the highest table address: no overflow */
    fault(&ps, gva, false, false, "not in RAM");
    put64(ea, e);
    assert_int_equal(ok(&ps, gva, false, false), 0x1005);

    /* A table in the last page of RAM, entry in its last 8 bytes, works. */
    uint64_t last = MEM_SIZE - 0x1000;
    uint64_t g2 = GVA4(1, 2, 3, 0x1ff, 0x9);
    put64(entry64(root, 4, g2, 2), last | PRW);
    put64(last + 0x1ff * 8, 0x3000 | PRW);
    assert_int_equal(ok(&ps, g2, false, false), 0x3009);
}

/* A guest can make tables point at themselves (recursive mappings, loops); the
 * walk is bounded by the number of levels. */
static void test_self_referencing_tables_terminate(void **st)
{
    (void)st;
    uint64_t root = alloc_table();
    for (int i = 0; i < 512; i++)
        put64(root + i * 8ull, root | PRW);
    struct vmm__paging_state ps = long_mode(root, false);
    uint64_t gva = GVA4(0x1ff, 0x1ff, 0x1ff, 0x1ff, 0x123) | 0xffff000000000000ull;
    assert_int_equal(ok(&ps, gva, false, false), root | 0x123);
    assert_int_equal(reads, 4);
    ps = long_mode(root, true);
    assert_int_equal(ok(&ps, 0x42, true, true), root | 0x42);
    assert_int_equal(reads, 5);
    struct vmm__paging_state p32 = {CR0_PG | CR0_PE, 0xa000, 0, 0};
    for (int i = 0; i < 1024; i++)
        put32(0xa000 + i * 4u, 0xa000 | PRW);
    assert_int_equal(ok(&p32, 0xfffff321u, false, false), 0xa321);
    assert_int_equal(reads, 2);
    assert_int_equal(get32(0xa000), 0xa000 | PRW); /* the walk never writes */
}

/* ---- enumerating page-table pages ---- */

static uint64_t found[64];
static size_t nfound;

static int collect(void *ctx, uint64_t gpa)
{
    (void)ctx;
    for (size_t i = 0; i < nfound; i++)
        if (found[i] == gpa)
            return 0;
    if (nfound == sizeof found / sizeof found[0])
        return -1;
    found[nfound++] = gpa;
    return 1;
}

static int tables(const struct vmm__paging_state *ps, size_t max)
{
    nfound = 0;
    return vmm__x86_table_pages(ps, mem_read, NULL, collect, NULL, max);
}

static bool has(uint64_t gpa)
{
    for (size_t i = 0; i < nfound; i++)
        if (found[i] == gpa)
            return true;
    return false;
}

static void test_table_pages_long(void **st)
{
    (void)st;
    uint64_t root = alloc_table();
    struct vmm__paging_state ps = long_mode(root, false);
    assert_int_equal(tables(&ps, 100), 0);
    assert_int_equal(nfound, 1); /* an empty PML4 is still a table */
    assert_true(has(root));
    /* One 4 KiB mapping: PML4, PDPT, PD, PT; a 2 MiB and a 1 GiB mapping add
     * tables only above their leaves; the data pages are not tables. */
    map64(root, 4, GVA4(1, 2, 3, 4, 0), 0x50000, 1, PRW);
    map64(root, 4, GVA4(1, 2, 5, 0, 0), 0x200000, 2, PRW);
    map64(root, 4, GVA4(1, 7, 0, 0, 0), 0x40000000, 3, PRW);
    assert_int_equal(tables(&ps, 100), 0);
    assert_int_equal(nfound, 4);
    assert_true(has(root));
    assert_false(has(0x50000));
    /* A PML4 entry with PS (reserved) is not followed. */
    put64(root + 8 * 9, 0x60000 | PS | PRW);
    assert_int_equal(tables(&ps, 100), 0);
    assert_int_equal(nfound, 4);
    /* Paging off: no tables. */
    struct vmm__paging_state off = {CR0_PE, root, 0, EFER_LMA};
    assert_int_equal(tables(&off, 100), 0);
    assert_int_equal(nfound, 0);
    /* Visiting more tables than allowed fails. */
    assert_int_equal(tables(&ps, 3), -1);
}

static void test_table_pages_pae_32bit(void **st)
{
    (void)st;
    const uint64_t pdpt = 0x6020;
    struct vmm__paging_state ps = {CR0_PG | CR0_PE, pdpt, CR4_PAE, 0};
    put64(pdpt + 8, 0x7000 | P);
    put64(0x7000, 0x8000 | PRW);        /* -> page table */
    put64(0x7008, 0x200000 | PS | PRW); /* 2 MiB page */
    assert_int_equal(tables(&ps, 100), 0);
    assert_int_equal(nfound, 3);
    assert_true(has(0x6000) && has(0x7000) && has(0x8000));
    struct vmm__paging_state p32 = {CR0_PG | CR0_PE, 0xa000, 0, 0};
    put32(0xa000, 0xb000 | PRW);
    put32(0xa004, 0x00c00000u | PS | PRW); /* without CR4.PSE: a page table */
    assert_int_equal(tables(&p32, 100), 0);
    assert_int_equal(nfound, 3);
    assert_true(has(0xc00000));
    p32.cr4 = CR4_PSE; /* now a 4 MiB page */
    assert_int_equal(tables(&p32, 100), 0);
    assert_int_equal(nfound, 2);
}

/* Self-referencing tables are counted once and the walk ends. */
static void test_table_pages_cycles(void **st)
{
    (void)st;
    uint64_t root = alloc_table();
    for (int i = 0; i < 512; i++)
        put64(root + i * 8ull, root | PRW);
    struct vmm__paging_state ps = long_mode(root, true);
    assert_int_equal(tables(&ps, 10), 0);
    assert_int_equal(nfound, 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_paging_off),
        T(test_long4_4k),
        T(test_long4_2m),
        T(test_long4_1g),
        T(test_long5),
        T(test_pae),
        T(test_32bit),
        T(test_32bit_pse),
        T(test_not_present_each_level),
        T(test_non_canonical),
        T(test_user_access_to_supervisor_page),
        T(test_write_to_read_only_page),
        T(test_tables_outside_memory),
        T(test_self_referencing_tables_terminate),
        T(test_table_pages_long),
        T(test_table_pages_pae_32bit),
        T(test_table_pages_cycles),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
