/* SPDX-License-Identifier: MIT */
/* Unit tests of the I/O bus: range bookkeeping, overlap refusal and lookup. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

/* A device only needs an id for the bus; the bus never calls it. */
static vmm_device dev_a = {.id = "uart-a"};
static vmm_device dev_b = {.id = "uart-b"};

static int teardown_bus(void **st)
{
    vmm__bus_free(*st);
    free(*st);
    return 0;
}

static int setup_bus(void **st)
{
    *st = calloc(1, sizeof(struct vmm__bus));
    return *st ? 0 : -1;
}

/* The bus invariant: sorted by base and pairwise disjoint. */
static void assert_sorted_disjoint(const struct vmm__bus *bus)
{
    for (size_t i = 1; i < bus->n; i++) {
        const struct vmm__range *p = &bus->r[i - 1], *q = &bus->r[i];
        assert_true(p->base < q->base);
        assert_true(p->base + p->len - 1 < q->base);
    }
}

static void test_adjacent_ranges_allowed(void **st)
{
    struct vmm__bus *bus = *st;
    assert_int_equal(vmm__bus_add(bus, 0x100, 8, &dev_a, 0), 0);
    /* Touching on either side is not an overlap. */
    assert_int_equal(vmm__bus_add(bus, 0x108, 8, &dev_b, 0), 0);
    assert_int_equal(vmm__bus_add(bus, 0xf8, 8, &dev_b, 1), 0);
    assert_int_equal(vmm__bus_add(bus, 0x110, 1, &dev_a, 1), 0);
    assert_int_equal(bus->n, 4);
    assert_sorted_disjoint(bus);
    assert_int_equal(bus->r[0].base, 0xf8);
    assert_int_equal(bus->r[3].base, 0x110);

    /* Each byte belongs to exactly the range that holds it. */
    assert_ptr_equal(vmm__bus_find(bus, 0xff, 1)->dev, &dev_b);
    assert_ptr_equal(vmm__bus_find(bus, 0x100, 1)->dev, &dev_a);
    assert_ptr_equal(vmm__bus_find(bus, 0x107, 1)->dev, &dev_a);
    assert_ptr_equal(vmm__bus_find(bus, 0x108, 1)->dev, &dev_b);
    assert_int_equal(vmm__bus_find(bus, 0x110, 1)->index, 1);
}

static void test_overlaps_refused(void **st)
{
    struct vmm__bus *bus = *st;
    assert_int_equal(vmm__bus_add(bus, 0x100, 0x10, &dev_a, 0), 0);
    assert_int_equal(vmm__bus_add(bus, 0x200, 0x10, &dev_a, 1), 0);
    static const struct {
        uint64_t base, len;
        const char *what;
    } cases[] = {
        {0x104, 4, "inside"},          {0xf8, 0x10, "straddling the start"},
        {0xff, 2, "first byte only"},  {0x10c, 8, "straddling the end"},
        {0x10f, 1, "last byte only"},  {0xf0, 0x40, "covering"},
        {0x100, 0x10, "identical"},    {0x10f, 0xf2, "bridging two ranges"},
        {0, UINT64_MAX, "everything"},
    };
    for (size_t i = 0; i < VMM__ARRAY_LEN(cases); i++) {
        vmm_error_clear();
        int rc = vmm__bus_add(bus, cases[i].base, cases[i].len, &dev_b, 9);
        if (rc != VMM_EEXIST)
            fail_msg("%s: rc %d, expected VMM_EEXIST", cases[i].what, rc);
        assert_int_equal(vmm_error_last()->code, VMM_EEXIST);
    }
    /* Nothing was inserted by the refused calls. */
    assert_int_equal(bus->n, 2);
    assert_ptr_equal(bus->r[0].dev, &dev_a);
    assert_ptr_equal(bus->r[1].dev, &dev_a);
}

static void test_overlap_message_names_both_ranges(void **st)
{
    struct vmm__bus *bus = *st;
    assert_int_equal(vmm__bus_add(bus, 0x3f8, 8, &dev_a, 0), 0);
    assert_int_equal(vmm__bus_add(bus, 0x3fc, 8, &dev_b, 0), VMM_EEXIST);
    const char *m = vmm_error_last()->message;
    assert_non_null(strstr(m, "0x3fc"));  /* new range start */
    assert_non_null(strstr(m, "0x403"));  /* new range end */
    assert_non_null(strstr(m, "0x3f8"));  /* existing start */
    assert_non_null(strstr(m, "0x3ff"));  /* existing end */
    assert_non_null(strstr(m, "uart-a")); /* its owner */

    /* A range without a device is described generically, not dereferenced. */
    assert_int_equal(vmm__bus_add(bus, 0x10, 4, NULL, 0), 0);
    assert_int_equal(vmm__bus_add(bus, 0x12, 1, &dev_b, 0), VMM_EEXIST);
    assert_non_null(strstr(vmm_error_last()->message, "0x10"));
    assert_non_null(strstr(vmm_error_last()->message, "0x13"));
}

static void test_empty_and_wrapping_refused(void **st)
{
    struct vmm__bus *bus = *st;
    assert_int_equal(vmm__bus_add(bus, 0x100, 0, &dev_a, 0), VMM_EINVAL);
    assert_int_equal(vmm_error_last()->code, VMM_EINVAL);
    assert_int_equal(vmm__bus_add(bus, 0, 0, &dev_a, 0), VMM_EINVAL);
    assert_int_equal(vmm__bus_add(bus, UINT64_MAX, 2, &dev_a, 0), VMM_EINVAL);
    assert_int_equal(vmm__bus_add(bus, 0xfffffffffffffff0ull, 0x11, &dev_a, 0), VMM_EINVAL);
    assert_int_equal(vmm__bus_add(bus, 2, UINT64_MAX, &dev_a, 0), VMM_EINVAL);
    assert_int_equal(bus->n, 0);
    /* The largest range that does not wrap is accepted. */
    assert_int_equal(vmm__bus_add(bus, 0, UINT64_MAX, &dev_a, 0), 0);
    assert_int_equal(bus->n, 1);
}

static void test_find_edges(void **st)
{
    struct vmm__bus *bus = *st;
    assert_null(vmm__bus_find(bus, 0x100, 1)); /* empty bus */
    assert_int_equal(vmm__bus_add(bus, 0x100, 0x10, &dev_a, 3), 0);
    assert_int_equal(vmm__bus_add(bus, 0x110, 0x10, &dev_b, 4), 0);

    const struct vmm__range *r = vmm__bus_find(bus, 0x100, 1);
    assert_non_null(r);
    assert_int_equal(r->base, 0x100);
    assert_int_equal(r->len, 0x10);
    assert_ptr_equal(r->dev, &dev_a);
    assert_int_equal(r->index, 3);
    assert_ptr_equal(vmm__bus_find(bus, 0x10f, 1), r);    /* last byte */
    assert_ptr_equal(vmm__bus_find(bus, 0x10c, 4), r);    /* ends at the last byte */
    assert_ptr_equal(vmm__bus_find(bus, 0x100, 0x10), r); /* the whole range */
    assert_null(vmm__bus_find(bus, 0xff, 1));             /* just below */
    assert_null(vmm__bus_find(bus, 0xff, 2));             /* straddles the start */
    assert_null(vmm__bus_find(bus, 0x10f, 2));            /* straddles into the neighbour */
    assert_null(vmm__bus_find(bus, 0x10e, 4));            /* same, wider */
    assert_null(vmm__bus_find(bus, 0x100, 0x11));         /* larger than the range */
    assert_null(vmm__bus_find(bus, 0x11d, 4));            /* straddles the end of the bus */
    assert_null(vmm__bus_find(bus, 0x120, 1));            /* just above */
    assert_null(vmm__bus_find(bus, 0, 1));
    assert_null(vmm__bus_find(bus, UINT64_MAX, 1));
    assert_null(vmm__bus_find(bus, UINT64_MAX - 1, 8)); /* addr + len wraps */
    assert_ptr_equal(vmm__bus_find(bus, 0x11f, 1)->dev, &dev_b);
    assert_int_equal(vmm__bus_find(bus, 0x110, 8)->index, 4);
}

/* A range may end at the very last address; its end (base + len) is 2^64, which
 * does not fit in 64 bits. It must be findable, refuse overlaps, and not hide
 * the other ranges. */
#define TOP_BASE 0xfffffffffffffff0ull

static void test_top_range_findable(void **st)
{
    struct vmm__bus *bus = *st;
    assert_int_equal(vmm__bus_add(bus, TOP_BASE, 0x10, &dev_b, 0), 0);
    const struct vmm__range *r = vmm__bus_find(bus, UINT64_MAX, 1);
    assert_non_null(r);
    assert_ptr_equal(r->dev, &dev_b);
    assert_non_null(vmm__bus_find(bus, TOP_BASE, 0x10));
}

static void test_top_range_keeps_others_findable(void **st)
{
    struct vmm__bus *bus = *st;
    assert_int_equal(vmm__bus_add(bus, 0x1000, 0x10, &dev_a, 0), 0);
    assert_int_equal(vmm__bus_add(bus, TOP_BASE, 0x10, &dev_b, 0), 0);
    const struct vmm__range *r = vmm__bus_find(bus, 0x1000, 4);
    assert_non_null(r);
    assert_ptr_equal(r->dev, &dev_a);
}

static void test_top_range_refuses_overlap(void **st)
{
    struct vmm__bus *bus = *st;
    assert_int_equal(vmm__bus_add(bus, TOP_BASE, 0x10, &dev_b, 0), 0);
    assert_int_equal(vmm__bus_add(bus, TOP_BASE + 8, 1, &dev_a, 1), VMM_EEXIST);
    assert_int_equal(vmm__bus_add(bus, TOP_BASE - 8, 0x10, &dev_a, 1), VMM_EEXIST);
    assert_int_equal(bus->n, 1);
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void test_many_ranges_random_order(void **st)
{
    struct vmm__bus *bus = *st;
    enum { N = 500 };
    unsigned int order[N];
    for (unsigned int i = 0; i < N; i++)
        order[i] = i;
    uint64_t seed = 12345;
    for (unsigned int i = N - 1; i > 0; i--) {
        unsigned int j = (unsigned int)(lcg(&seed) % (i + 1));
        unsigned int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    /* Range k: [k*16, k*16 + 4 + k%8), leaving a gap after each. */
    for (unsigned int i = 0; i < N; i++) {
        unsigned int k = order[i];
        assert_int_equal(vmm__bus_add(bus, k * 16ull, 4 + k % 8, (k & 1) ? &dev_b : &dev_a, k), 0);
        assert_int_equal(bus->n, i + 1);
    }
    assert_sorted_disjoint(bus);
    for (unsigned int k = 0; k < N; k++) {
        uint64_t base = k * 16ull, len = 4 + k % 8;
        assert_int_equal(bus->r[k].base, base);
        const struct vmm__range *r = vmm__bus_find(bus, base, 1);
        assert_non_null(r);
        assert_int_equal(r->index, k);
        assert_ptr_equal(r->dev, (k & 1) ? &dev_b : &dev_a);
        r = vmm__bus_find(bus, base + len - 1, 1);
        assert_non_null(r);
        assert_int_equal(r->index, k);
        assert_null(vmm__bus_find(bus, base + len, 1));     /* the gap */
        assert_null(vmm__bus_find(bus, base + len - 1, 2)); /* straddles into it */
        /* Re-adding any part of it is refused. */
        assert_int_equal(vmm__bus_add(bus, base + len - 1, 2, &dev_a, 0), VMM_EEXIST);
    }
    assert_int_equal(bus->n, N);
}

static void test_remove_device(void **st)
{
    struct vmm__bus *bus = *st;
    for (unsigned int k = 0; k < 20; k++)
        assert_int_equal(
            vmm__bus_add(bus, 0x1000 + k * 0x10ull, 0x10, (k % 3 == 0) ? &dev_a : &dev_b, k), 0);
    vmm__bus_remove_device(bus, &dev_a);
    assert_int_equal(bus->n, 13);
    assert_sorted_disjoint(bus);
    for (unsigned int k = 0; k < 20; k++) {
        const struct vmm__range *r = vmm__bus_find(bus, 0x1000 + k * 0x10ull, 0x10);
        if (k % 3 == 0) {
            assert_null(r);
        } else {
            assert_non_null(r);
            assert_ptr_equal(r->dev, &dev_b);
            assert_int_equal(r->index, k);
        }
    }
    /* The freed space can be claimed again. */
    assert_int_equal(vmm__bus_add(bus, 0x1000, 0x10, &dev_a, 0), 0);
    /* Removing a device without ranges changes nothing. */
    vmm_device other = {.id = "none"};
    vmm__bus_remove_device(bus, &other);
    assert_int_equal(bus->n, 14);
    vmm__bus_remove_device(bus, &dev_b);
    vmm__bus_remove_device(bus, &dev_a);
    assert_int_equal(bus->n, 0);
    assert_null(vmm__bus_find(bus, 0x1010, 1));
    /* An emptied bus still works. */
    assert_int_equal(vmm__bus_add(bus, 0x20, 1, &dev_b, 0), 0);
    assert_non_null(vmm__bus_find(bus, 0x20, 1));
}

static void test_free_resets(void **st)
{
    struct vmm__bus *bus = *st;
    assert_int_equal(vmm__bus_add(bus, 0x20, 1, &dev_b, 0), 0);
    vmm__bus_free(bus);
    assert_int_equal(bus->n, 0);
    assert_int_equal(bus->cap, 0);
    assert_null(bus->r);
    assert_null(vmm__bus_find(bus, 0x20, 1));
    vmm__bus_free(bus); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_adjacent_ranges_allowed, setup_bus, teardown_bus),
        cmocka_unit_test_setup_teardown(test_overlaps_refused, setup_bus, teardown_bus),
        cmocka_unit_test_setup_teardown(test_overlap_message_names_both_ranges, setup_bus,
                                        teardown_bus),
        cmocka_unit_test_setup_teardown(test_empty_and_wrapping_refused, setup_bus, teardown_bus),
        cmocka_unit_test_setup_teardown(test_find_edges, setup_bus, teardown_bus),
        cmocka_unit_test_setup_teardown(test_top_range_findable, setup_bus, teardown_bus),
        cmocka_unit_test_setup_teardown(test_top_range_keeps_others_findable, setup_bus,
                                        teardown_bus),
        cmocka_unit_test_setup_teardown(test_top_range_refuses_overlap, setup_bus, teardown_bus),
        cmocka_unit_test_setup_teardown(test_many_ranges_random_order, setup_bus, teardown_bus),
        cmocka_unit_test_setup_teardown(test_remove_device, setup_bus, teardown_bus),
        cmocka_unit_test_setup_teardown(test_free_resets, setup_bus, teardown_bus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
