/* SPDX-License-Identifier: MIT */
/* The Linux loader's pure parts without KVM: the bzImage setup-header rules,
 * the e820 map built from RAM regions, and the MP table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "boot/linux.h"

#define FILE_SIZE (8u << 20)

static void put16(uint8_t *p, size_t o, uint16_t v)
{
    memcpy(p + o, &v, 2);
}

static void put32(uint8_t *p, size_t o, uint32_t v)
{
    memcpy(p + o, &v, 4);
}

/* A setup header as a 2.15 relocatable 64-bit bzImage has it. */
static void good_header(uint8_t *h)
{
    memset(h, 0, 0x400);
    h[0x1f1] = 27; /* setup_sects */
    put16(h, 0x1fe, 0xaa55);
    h[0x200] = 0xeb;
    h[0x201] = 0x6a; /* header ends at 0x26c */
    memcpy(h + 0x202, "HdrS", 4);
    put16(h, 0x206, 0x20f);
    h[0x211] = 1;                /* LOADED_HIGH */
    put32(h, 0x22c, 0x7fffffff); /* initrd_addr_max */
    put32(h, 0x230, 0x200000);   /* kernel_alignment */
    h[0x234] = 1;                /* relocatable */
    put16(h, 0x236, 0x7f);       /* xloadflags */
    put32(h, 0x238, 2047);       /* cmdline_size */
    put32(h, 0x258, 0x1000000);  /* pref_address (low half) */
    put32(h, 0x260, 0x3000000);  /* init_size */
}

static void expect_bad(const uint8_t *h, uint64_t size, const char *words)
{
    struct vmm__bzimage bz;
    const char *why = NULL;
    assert_int_equal(vmm__bzimage_parse(h, 0x400, size, &bz, &why), VMM_EINVAL);
    assert_non_null(why);
    if (!strstr(why, words))
        fail_msg("reason \"%s\" does not mention \"%s\"", why, words);
}

static void test_bzimage_good(void **state)
{
    (void)state;
    uint8_t h[0x400];
    good_header(h);
    struct vmm__bzimage bz;
    const char *why = NULL;
    assert_int_equal(vmm__bzimage_parse(h, sizeof h, FILE_SIZE, &bz, &why), 0);
    assert_int_equal(bz.setup_size, 28 * 512);
    assert_int_equal(bz.hdr_len, 0x26c - 0x1f1);
    assert_int_equal(bz.version, 0x20f);
    assert_int_equal(bz.load, 0x1000000);
    assert_int_equal(bz.init_size, 0x3000000);
    assert_int_equal(bz.initrd_max, 0x7fffffff);
    assert_int_equal(bz.cmdline_max, 2047);
    /* setup_sects 0 means 4; a 1 GiB alignment moves the load up; an
     * init_size below the file's body grows to it; a non-relocatable kernel
     * goes to its preferred address. */
    h[0x1f1] = 0;
    put32(h, 0x230, 1u << 30);
    put32(h, 0x260, 0x1000);
    assert_int_equal(vmm__bzimage_parse(h, sizeof h, FILE_SIZE, &bz, &why), 0);
    assert_int_equal(bz.setup_size, 5 * 512);
    assert_int_equal(bz.load, 1ull << 30);
    assert_int_equal(bz.init_size, FILE_SIZE - 5 * 512);
    h[0x234] = 0;
    put32(h, 0x258, 0x200000);
    assert_int_equal(vmm__bzimage_parse(h, sizeof h, FILE_SIZE, &bz, &why), 0);
    assert_int_equal(bz.load, 0x200000);
    /* cmdline_size 0 (older kernels): 255. */
    put32(h, 0x238, 0);
    assert_int_equal(vmm__bzimage_parse(h, sizeof h, FILE_SIZE, &bz, &why), 0);
    assert_int_equal(bz.cmdline_max, 255);
}

static void test_bzimage_rules(void **state)
{
    (void)state;
    uint8_t h[0x400];
    struct vmm__bzimage bz;
    const char *why;
    good_header(h);
    assert_int_equal(vmm__bzimage_parse(h, 0x3ff, FILE_SIZE, &bz, &why), VMM_EINVAL);
    good_header(h);
    put16(h, 0x1fe, 0x55aa);
    expect_bad(h, FILE_SIZE, "HdrS");
    good_header(h);
    memcpy(h + 0x202, "HdrX", 4);
    expect_bad(h, FILE_SIZE, "HdrS");
    good_header(h);
    put16(h, 0x206, 0x20b);
    expect_bad(h, FILE_SIZE, "2.12");
    good_header(h);
    put16(h, 0x236, 0x7e);
    expect_bad(h, FILE_SIZE, "XLF_KERNEL_64");
    good_header(h);
    h[0x211] = 0;
    expect_bad(h, FILE_SIZE, "LOADED_HIGH");
    good_header(h);
    h[0x1f1] = 200; /* 100 KiB of setup code */
    expect_bad(h, FILE_SIZE, "setup_sects");
    good_header(h);
    expect_bad(h, 28 * 512, "setup_sects"); /* nothing after the setup code */
    good_header(h);
    h[0x201] = 0xff; /* header running past 0x290 */
    expect_bad(h, FILE_SIZE, "header length");
    good_header(h);
    h[0x201] = 0x20; /* too short to hold init_size */
    expect_bad(h, FILE_SIZE, "too short");
    good_header(h);
    put32(h, 0x230, 0x300000);
    expect_bad(h, FILE_SIZE, "kernel_alignment");
    good_header(h);
    put32(h, 0x230, 0);
    expect_bad(h, FILE_SIZE, "kernel_alignment");
    good_header(h);
    put32(h, 0x230, 1u << 31);
    expect_bad(h, FILE_SIZE, "kernel_alignment");
    good_header(h);
    h[0x234] = 0;
    put32(h, 0x258, 0x1000); /* below 1 MiB */
    expect_bad(h, FILE_SIZE, "load address");
    good_header(h);
    h[0x234] = 0;
    put32(h, 0x258, 0x100123); /* not page aligned */
    expect_bad(h, FILE_SIZE, "load address");
    good_header(h);
    h[0x234] = 0;
    put32(h, 0x25c, 1); /* above 4 GiB */
    expect_bad(h, FILE_SIZE, "load address");
    good_header(h);
    put32(h, 0x260, 0x7fffffff);
    put32(h, 0x260, 0x40000001);
    expect_bad(h, FILE_SIZE, "init_size");
}

static void test_e820(void **state)
{
    (void)state;
    struct vmm__e820 m[8];
    /* One region from 0. */
    uint64_t one[][2] = {{0, 256u << 20}};
    assert_int_equal(vmm__linux_e820(one, 1, m, 8), 3);
    assert_int_equal(m[0].addr, 0);
    assert_int_equal(m[0].size, 0x9fc00);
    assert_int_equal(m[0].type, VMM__E820_RAM);
    assert_int_equal(m[1].addr, 0x9fc00);
    assert_int_equal(m[1].size, 0x400);
    assert_int_equal(m[1].type, VMM__E820_RESERVED);
    assert_int_equal(m[2].addr, 0x100000);
    assert_int_equal(m[2].size, (256u << 20) - 0x100000);
    /* Touching regions above 1 MiB merge; a gap starts a new entry. */
    uint64_t many[][2] = {
        {0, 0x100000}, {0x100000, 0x100000}, {0x200000, 0x100000}, {0x1000000, 0x1000}};
    assert_int_equal(vmm__linux_e820(many, 4, m, 8), 4);
    assert_int_equal(m[2].addr, 0x100000);
    assert_int_equal(m[2].size, 0x200000);
    assert_int_equal(m[3].addr, 0x1000000);
    assert_int_equal(m[3].size, 0x1000);
    /* No RAM at 0, or not up to 1 MiB (the MP table lives at 0xf0000). */
    uint64_t high[][2] = {{0x100000, 0x100000}};
    assert_int_equal(vmm__linux_e820(high, 1, m, 8), VMM_EFAULT);
    uint64_t small[][2] = {{0, 0xc0000}};
    assert_int_equal(vmm__linux_e820(small, 1, m, 8), VMM_EFAULT);
    /* No room. */
    assert_int_equal(vmm__linux_e820(one, 1, m, 2), VMM_E2BIG);
    assert_int_equal(vmm__linux_e820(many, 4, m, 3), VMM_E2BIG);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

static void test_mptable(void **state)
{
    (void)state;
    uint8_t buf[1024];
    int len = vmm__linux_mptable(buf, sizeof buf, 0xf0000, 4, 0x00b00f21, 0x078bfbff);
    assert_true(len > 0);
    assert_memory_equal(buf, "_MP_", 4);
    assert_int_equal(sum(buf, 16), 0);
    uint32_t at;
    memcpy(&at, buf + 4, 4);
    assert_int_equal(at, 0xf0000 + 16);
    const uint8_t *t = buf + 16;
    assert_memory_equal(t, "PCMP", 4);
    uint16_t tlen, count;
    memcpy(&tlen, t + 4, 2);
    memcpy(&count, t + 34, 2);
    assert_int_equal(16 + tlen, len);
    assert_int_equal(sum(t, tlen), 0);
    /* 4 processors, a bus, an IOAPIC, 24 interrupt and 2 local entries. */
    assert_int_equal(count, 4 + 1 + 1 + 24 + 2);
    assert_int_equal(t[44], 0);
    assert_int_equal(t[44 + 3], 3); /* enabled, bootstrap */
    assert_int_equal(t[64 + 3], 1);
    uint32_t sig;
    memcpy(&sig, t + 44 + 4, 4);
    assert_int_equal(sig, 0x00b00f21);
    const uint8_t *io = t + 44 + 4 * 20 + 8;
    assert_int_equal(io[0], 2);
    assert_int_equal(io[1], 4); /* IOAPIC ID after the LAPIC IDs */
    /* Too many vCPUs for the buffer, none, or more than the MP IDs allow. */
    assert_int_equal(vmm__linux_mptable(buf, 100, 0x9fc00, 4, 0, 0), VMM_E2BIG);
    assert_int_equal(vmm__linux_mptable(buf, sizeof buf, 0x9fc00, 0, 0, 0), VMM_E2BIG);
    static uint8_t big[16384];
    assert_int_equal(vmm__linux_mptable(big, sizeof big, 0x9fc00, 255, 0, 0), VMM_E2BIG);
    assert_true(vmm__linux_mptable(big, sizeof big, 0xf0000, 254, 0, 0) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bzimage_good),
        cmocka_unit_test(test_bzimage_rules),
        cmocka_unit_test(test_e820),
        cmocka_unit_test(test_mptable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
