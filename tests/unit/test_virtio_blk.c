/* SPDX-License-Identifier: MIT */
/* Unit tests of virtio-blk over the virtio-mmio transport, driven by a
 * driver-side fake over plain memory (no KVM): requests on a file, and the
 * hostile ones (beyond the disk, bad lengths and buffers, wrong direction). */
#include "virtio_driver.h"

/* ---- virtio-blk ---- */

static void test_blk_identity_and_config(void **st)
{
    struct fx *f = *st;
    assert_int_equal(f->nclaims, 1);
    assert_int_equal(f->base, MMIO_BASE);
    assert_int_equal(f->len, 0x200);
    assert_int_equal(r32(f, R_MAGIC), MAGIC);
    assert_int_equal(r32(f, R_VERSION), 2);
    assert_int_equal(r32(f, R_DEVICE_ID), 2);
    uint64_t offered = dev_features(f);
    assert_true(offered & F_VERSION_1);
    assert_false(offered & BLK_F_RO);
    /* capacity, in 512-byte sectors, read as two 32-bit halves (§4.2.2.2) */
    assert_int_equal(r32(f, R_CONFIG), SECTORS);
    assert_int_equal(r32(f, R_CONFIG + 4), 0);
    /* and byte by byte */
    uint64_t cap = 0;
    for (unsigned int i = 0; i < 8; i++)
        cap |= peek(f, R_CONFIG + i, 1) << (8 * i);
    assert_int_equal(cap, SECTORS);
    if (offered & BLK_F_BLK_SIZE)
        assert_int_equal(r32(f, R_CONFIG + 20), 512);
    /* The driver cannot change the capacity. */
    poke(f, R_CONFIG, 0);
    poke(f, R_CONFIG + 4, 0xffffffff);
    assert_int_equal(r32(f, R_CONFIG), SECTORS);
    assert_int_equal(r32(f, R_CONFIG + 4), 0);
    /* Every offset and width in config space is safe to read; past the
     * device's fields it reads as a fixed value. */
    for (uint64_t off = R_CONFIG; off < 0x200; off++)
        for (unsigned int size = 1; size <= 8; size *= 2)
            if (off + size <= 0x200)
                (void)peek(f, off, size);
    assert_true(zero_or_ones(peek(f, 0x1fc, 4), 4));
}

static void test_blk_read(void **st)
{
    struct fx *f = *st;
    start_default(f);
    uint32_t ul = 0;
    memset(at(f, BUF, 1024), 0, 1024);
    assert_int_equal(blk_req(f, T_IN, 5, BUF, 1024, D_WRITE, &ul), BLK_OK);
    /* The data and the status byte were written. */
    assert_int_equal(ul, 1025);
    assert_true(matches_pat(at(f, BUF, 1024), 5 * 512, 1024));
    /* Data split across buffers, one boundary inside a sector. */
    memset(at(f, BUF, 4096), 0, 4096);
    const uint32_t hdr[4] = {T_IN, 0, 7, 0};
    memcpy(at(f, HDR, 16), hdr, 16);
    *at(f, STAT, 1) = 0xff;
    const struct seg s[] = {
        {HDR, 16, 0}, {BUF, 256, D_WRITE}, {BUF + 2048, 768, D_WRITE}, {STAT, 1, D_WRITE}};
    chain_at(f, f->desc, 0, s, 4);
    assert_int_equal(submit(f, 0), 1025);
    assert_int_equal(*at(f, STAT, 1), BLK_OK);
    assert_true(matches_pat(at(f, BUF, 256), 7 * 512, 256));
    assert_true(matches_pat(at(f, BUF + 2048, 768), 7 * 512 + 256, 768));
    /* §2.6.4: the header may span descriptors too. */
    const uint32_t hdr2[4] = {T_IN, 0, 6, 0};
    memcpy(at(f, HDR, 16), hdr2, 16);
    *at(f, STAT, 1) = 0xff;
    const struct seg h2[] = {{HDR, 8, 0}, {HDR + 8, 8, 0}, {BUF, 512, D_WRITE}, {STAT, 1, D_WRITE}};
    chain_at(f, f->desc, 0, h2, 4);
    assert_int_equal(submit(f, 0), 513);
    assert_int_equal(*at(f, STAT, 1), BLK_OK);
    assert_true(matches_pat(at(f, BUF, 512), 6 * 512, 512));
    /* The last sector. */
    assert_int_equal(blk_req(f, T_IN, SECTORS - 1, BUF, 512, D_WRITE, &ul), BLK_OK);
    assert_true(matches_pat(at(f, BUF, 512), (SECTORS - 1) * 512ull, 512));
}

static void test_blk_write(void **st)
{
    struct fx *f = *st;
    start_default(f);
    uint8_t *b = at(f, BUF, 1024);
    for (unsigned int i = 0; i < 1024; i++)
        b[i] = (uint8_t)(0xc3 ^ i);
    uint8_t want[1024];
    memcpy(want, b, 1024);
    uint32_t ul = 0;
    assert_int_equal(blk_req(f, T_OUT, 9, BUF, 1024, 0, &ul), BLK_OK);
    /* Only the status byte was written into the chain. */
    assert_int_equal(ul, 1);
    assert_memory_equal(at(f, BUF, 1024), want, 1024);
    uint8_t got[1024];
    read_disk(f, 9 * 512, got, 1024);
    assert_memory_equal(got, want, 1024);
    /* The neighbours are untouched. */
    assert_true(disk_pristine(f, 8 * 512, 512));
    assert_true(disk_pristine(f, 11 * 512, 512));
    /* And the device reads back what it wrote. */
    memset(at(f, BUF, 1024), 0, 1024);
    assert_int_equal(blk_req(f, T_IN, 9, BUF, 1024, D_WRITE, &ul), BLK_OK);
    assert_memory_equal(at(f, BUF, 1024), want, 1024);
}

static void test_blk_flush_and_get_id(void **st)
{
    struct fx *f = *st;
    start_default(f);
    assert_true(f->offered & BLK_F_FLUSH);
    uint32_t ul = 0;
    assert_int_equal(blk_req(f, T_FLUSH, 0, 0, 0, 0, &ul), BLK_OK);
    assert_int_equal(ul, 1);
    memset(at(f, BUF, 64), 0xaa, 64);
    assert_int_equal(blk_req(f, T_GET_ID, 0, BUF, 20, D_WRITE, &ul), BLK_OK);
    assert_int_equal(ul, 21);
    assert_false(all_bytes(at(f, BUF, 20), 20, 0xaa));
    /* Nothing past the 20 bytes. */
    assert_true(all_bytes(at(f, BUF + 20, 44), 44, 0xaa));
    /* A bigger buffer still gets exactly the 20 id bytes. */
    memset(at(f, BUF, 64), 0xaa, 64);
    assert_int_equal(blk_req(f, T_GET_ID, 0, BUF, 48, D_WRITE, &ul), BLK_OK);
    assert_int_equal(ul, 21);
    assert_true(all_bytes(at(f, BUF + 20, 44), 44, 0xaa));
    /* An unknown request type (§5.2.6.1). */
    assert_int_equal(blk_req(f, 99, 0, BUF, 512, D_WRITE, &ul), BLK_UNSUPP);
}

static void test_blk_discard_write_zeroes(void **st)
{
    struct fx *f = *st;
    uint64_t offered = dev_features(f);
    if (!(offered & BLK_F_WRITE_ZEROS) || !(offered & BLK_F_DISCARD))
        skip();
    start(f, default_want(f) | BLK_F_DISCARD | BLK_F_WRITE_ZEROS, NUM);
    /* {u64 sector, u32 num_sectors, u32 flags} */
    const uint32_t range[4] = {12, 0, 2, 0};
    memcpy(at(f, BUF, 16), range, 16);
    assert_int_equal(blk_req(f, T_WRITE_ZEROES, 0, BUF, 16, 0, NULL), BLK_OK);
    uint8_t got[1024];
    read_disk(f, 12 * 512, got, 1024);
    assert_true(all_bytes(got, 1024, 0));
    assert_true(disk_pristine(f, 11 * 512, 512));
    assert_true(disk_pristine(f, 14 * 512, 512));
    const uint32_t range2[4] = {20, 0, 1, 0};
    memcpy(at(f, BUF, 16), range2, 16);
    assert_int_equal(blk_req(f, T_DISCARD, 0, BUF, 16, 0, NULL), BLK_OK);
    /* Ranges off the disk, and one whose byte offset overflows. */
    const uint32_t bad[][4] = {{SECTORS, 0, 1, 0}, {SECTORS - 1, 0, 2, 0}, {0, 0x800000, 1, 0}};
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad); i++) {
        memcpy(at(f, BUF, 16), bad[i], 16);
        assert_int_equal(blk_req(f, T_WRITE_ZEROES, 0, BUF, 16, 0, NULL), BLK_IOERR);
        assert_int_equal(blk_req(f, T_DISCARD, 0, BUF, 16, 0, NULL), BLK_IOERR);
    }
    assert_true(disk_pristine(f, (SECTORS - 1) * 512ull, 512));
}

/* §5.2.6.2: UNSUPP for an unknown flag on either command and for the unmap
 * flag (bit 0) on a discard; the unmap flag is fine on write-zeroes. */
static void test_blk_discard_flags(void **st)
{
    struct fx *f = *st;
    uint64_t offered = dev_features(f);
    if (!(offered & BLK_F_WRITE_ZEROS) || !(offered & BLK_F_DISCARD))
        skip();
    start(f, default_want(f) | BLK_F_DISCARD | BLK_F_WRITE_ZEROS, NUM);
    static const struct {
        uint32_t type, flags;
        int status;
    } cases[] = {
        {T_DISCARD, 1, BLK_UNSUPP},
        {T_DISCARD, 2, BLK_UNSUPP},
        {T_DISCARD, 1u << 31, BLK_UNSUPP},
        {T_WRITE_ZEROES, 2, BLK_UNSUPP},
        {T_WRITE_ZEROES, 1u << 31, BLK_UNSUPP},
        {T_WRITE_ZEROES, 1, BLK_OK},
    };
    for (size_t i = 0; i < VMM__ARRAY_LEN(cases); i++) {
        const uint32_t range[4] = {16, 0, 1, cases[i].flags};
        memcpy(at(f, BUF, 16), range, 16);
        int got = blk_req(f, cases[i].type, 0, BUF, 16, 0, NULL);
        if (got != cases[i].status)
            fail_msg("type %u flags 0x%x: status %d, expected %d", cases[i].type, cases[i].flags,
                     got, cases[i].status);
        if (cases[i].status != BLK_OK)
            assert_true(disk_pristine(f, 16 * 512, 512));
    }
}

/* A sparse image past 2^32 sectors: the capacity's high word and sector
 * numbers above 32 bits. */
static void test_blk_large_disk(void **st)
{
    struct fx *f = *st;
    const uint64_t sectors = (1ull << 32) + 1;
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_virtio_big.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    int rc = ftruncate(fd, (off_t)(sectors * 512));
    uint8_t tail[512];
    memset(tail, 0x3c, sizeof tail);
    if (rc == 0)
        rc = pwrite(fd, tail, sizeof tail, (off_t)((sectors - 1) * 512)) == 512 ? 0 : -1;
    close(fd);
    if (rc < 0) {
        unlink(path);
        skip();
    }
    char cfg[160];
    snprintf(cfg, sizeof cfg, "{\"mmio\": 268435456, \"path\": \"%s\"}", path);
    rc = attach(f, BLK, cfg);
    unlink(path);
    assert_int_equal(rc, 0);
    assert_int_equal(r32(f, R_CONFIG), 1);
    assert_int_equal(r32(f, R_CONFIG + 4), 1);
    start_default(f);
    memset(at(f, BUF, 1024), 0, 1024);
    assert_int_equal(blk_req(f, T_IN, sectors - 1, BUF, 512, D_WRITE, NULL), BLK_OK);
    assert_true(all_bytes(at(f, BUF, 512), 512, 0x3c));
    assert_int_equal(blk_req(f, T_IN, sectors - 1, BUF, 1024, D_WRITE, NULL), BLK_IOERR);
    assert_int_equal(blk_req(f, T_IN, sectors, BUF, 512, D_WRITE, NULL), BLK_IOERR);
}

static void test_blk_readonly(void **st)
{
    struct fx *f = *st;
    assert_int_equal(attach_blk(f, ", \"readonly\": true"), 0);
    assert_true(dev_features(f) & BLK_F_RO);
    start_default(f);
    assert_true(f->features & BLK_F_RO);
    memset(at(f, BUF, 512), 0x11, 512);
    uint32_t ul = 0;
    int st_out = blk_req(f, T_OUT, 0, BUF, 512, 0, &ul);
    assert_true(st_out == BLK_IOERR || st_out == BLK_UNSUPP);
    assert_true(disk_pristine(f, 0, 512));
    assert_false(r32(f, R_STATUS) & S_NEEDS_RESET);
    /* Reads still work. */
    assert_int_equal(blk_req(f, T_IN, 0, BUF, 512, D_WRITE, &ul), BLK_OK);
    assert_true(matches_pat(at(f, BUF, 512), 0, 512));
    expect_serves(f);
}

static void test_blk_indirect(void **st)
{
    struct fx *f = *st;
    start(f, default_want(f) | F_INDIRECT, NUM);
    const uint32_t hdr[4] = {T_IN, 0, 4, 0};
    memcpy(at(f, HDR, 16), hdr, 16);
    *at(f, STAT, 1) = 0xff;
    memset(at(f, BUF, 512), 0, 512);
    const struct seg s[] = {{HDR, 16, 0}, {BUF, 512, D_WRITE}, {STAT, 1, D_WRITE}};
    chain_at(f, ITABLE, 0, s, 3);
    desc(f, 0, ITABLE, 3 * 16, D_INDIRECT, 0);
    assert_int_equal(submit(f, 0), 513);
    assert_int_equal(*at(f, STAT, 1), BLK_OK);
    assert_true(matches_pat(at(f, BUF, 512), 4 * 512, 512));
}

/* ---- hostile virtio-blk requests ---- */

static void test_blk_sector_overflow(void **st)
{
    struct fx *f = *st;
    /* 2^55 * 512 wraps to 0: a device that multiplies first reads sector 0. */
    const uint64_t sectors[] = {1ull << 55, (1ull << 55) + 1, UINT64_MAX, UINT64_MAX / 512};
    start_default(f);
    for (size_t i = 0; i < VMM__ARRAY_LEN(sectors); i++) {
        memset(at(f, BUF, 1024), 0x77, 1024);
        uint32_t ul = 0;
        assert_int_equal(blk_req(f, T_IN, sectors[i], BUF, 1024, D_WRITE, &ul), BLK_IOERR);
        assert_true(all_bytes(at(f, BUF, 1024), 1024, 0x77));
        assert_int_equal(ul, 1);
        assert_int_equal(blk_req(f, T_OUT, sectors[i], BUF, 1024, 0, &ul), BLK_IOERR);
    }
    assert_true(disk_pristine(f, 0, 4096));
    expect_serves(f);
}

static void test_blk_beyond_capacity(void **st)
{
    struct fx *f = *st;
    static const struct {
        uint64_t sector;
        uint32_t len;
    } bad[] = {{SECTORS, 512}, {SECTORS - 1, 1024}, {SECTORS + 1, 512}, {0, DISK_SIZE + 512}};
    start_default(f);
    memset(at(f, BUF, 0x40000), 0x77, 0x40000);
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad); i++) {
        uint32_t len = bad[i].len < 0x40000 ? bad[i].len : 0x40000;
        /* The last case needs a buffer bigger than the disk: four of them. */
        if (bad[i].len > 0x40000) {
            uint32_t hdr[4] = {T_IN, 0, (uint32_t)bad[i].sector, 0};
            memcpy(at(f, HDR, 16), hdr, 16);
            *at(f, STAT, 1) = 0xff;
            const struct seg s[] = {{HDR, 16, 0},
                                    {BUF, 0x40000, D_WRITE},
                                    {BUF, 0x40000, D_WRITE},
                                    {BUF, 0x40000, D_WRITE},
                                    {BUF, 0x40000, D_WRITE},
                                    {BUF, 512, D_WRITE},
                                    {STAT, 1, D_WRITE}};
            chain_at(f, f->desc, 0, s, 7);
            assert_int_equal(submit(f, 0), 1);
            assert_int_equal(*at(f, STAT, 1), BLK_IOERR);
        } else {
            assert_int_equal(blk_req(f, T_IN, bad[i].sector, BUF, len, D_WRITE, NULL), BLK_IOERR);
            assert_int_equal(blk_req(f, T_OUT, bad[i].sector, BUF, len, 0, NULL), BLK_IOERR);
        }
        assert_true(all_bytes(at(f, BUF, 0x40000), 0x40000, 0x77));
    }
    assert_true(disk_pristine(f, DISK_SIZE - 1024, 1024));
    expect_serves(f);
}

static void test_blk_length_not_sector_multiple(void **st)
{
    struct fx *f = *st;
    const uint32_t lens[] = {1, 100, 511, 513, 1000};
    start_default(f);
    for (size_t i = 0; i < VMM__ARRAY_LEN(lens); i++) {
        memset(at(f, BUF, 1024), 0x77, 1024);
        assert_int_equal(blk_req(f, T_IN, 10, BUF, lens[i], D_WRITE, NULL), BLK_IOERR);
        assert_int_equal(blk_req(f, T_OUT, 10, BUF, lens[i], 0, NULL), BLK_IOERR);
    }
    assert_true(disk_pristine(f, 10 * 512, 1024));
    expect_serves(f);
}

static void test_blk_bad_data_buffer(void **st)
{
    struct fx *f = *st;
    const uint64_t addrs[] = {RAM_SIZE, RAM_SIZE - 256, HOLE, HOLE - 256, MMIO_BASE};
    start_default(f);
    for (size_t i = 0; i < VMM__ARRAY_LEN(addrs); i++) {
        expect_blk_error(f, blk_req(f, T_IN, 12, addrs[i], 512, D_WRITE, NULL));
        expect_blk_error(f, blk_req(f, T_OUT, 12, addrs[i], 512, 0, NULL));
        assert_true(disk_pristine(f, 12 * 512, 512));
    }
    /* addr + len wraps: a violation the ring walk catches. */
    assert_int_equal(blk_req(f, T_IN, 12, 0xfffffffffffffe00ull, 1024, D_WRITE, NULL), -1);
    expect_broken(f);
    recover(f);
}

/* §2.7.4.2 for virtio-blk, whose requests have both kinds of buffer. */
static void test_blk_wrong_direction(void **st)
{
    struct fx *f = *st;
    start_default(f);
    const uint32_t hdr[4] = {T_IN, 0, 0, 0};
    memcpy(at(f, HDR, 16), hdr, 16);
    *at(f, STAT, 1) = 0xff;
    const struct seg s[] = {
        {HDR, 16, 0}, {BUF, 512, D_WRITE}, {BUF + 1024, 16, 0}, {STAT, 1, D_WRITE}};
    chain_at(f, f->desc, 0, s, 4);
    assert_int_equal(submit(f, 0), -1);
    assert_int_equal(*at(f, STAT, 1), 0xff);
    expect_broken(f);
    recover(f);
}

static void test_blk_header_misplaced(void **st)
{
    struct fx *f = *st;
    start_default(f);
    /* The header in a device-writable buffer. */
    const uint32_t hdr[4] = {T_OUT, 0, 0, 0};
    memcpy(at(f, HDR, 16), hdr, 16);
    *at(f, STAT, 1) = 0xff;
    const struct seg w[] = {{HDR, 16, D_WRITE}, {STAT, 1, D_WRITE}};
    chain_at(f, f->desc, 0, w, 2);
    long got = submit(f, 0);
    expect_blk_error(f, got < 0 ? -1 : *at(f, STAT, 1));
    /* Fewer than 16 readable bytes in all. */
    memcpy(at(f, HDR, 16), hdr, 16);
    *at(f, STAT, 1) = 0xff;
    const struct seg s[] = {{HDR, 8, 0}, {STAT, 1, D_WRITE}};
    chain_at(f, f->desc, 0, s, 2);
    got = submit(f, 0);
    expect_blk_error(f, got < 0 ? -1 : *at(f, STAT, 1));
    /* No status byte at all: the device cannot answer. */
    const struct seg n[] = {{HDR, 16, 0}, {BUF, 512, 0}};
    chain_at(f, f->desc, 0, n, 2);
    got = submit(f, 0);
    if (r32(f, R_STATUS) & S_NEEDS_RESET)
        expect_broken(f);
    else
        assert_true(got >= 0);
    recover(f);
    /* The status byte outside RAM. */
    const uint32_t in[4] = {T_IN, 0, 0, 0};
    memcpy(at(f, HDR, 16), in, 16);
    const struct seg o[] = {{HDR, 16, 0}, {BUF, 512, D_WRITE}, {RAM_SIZE, 1, D_WRITE}};
    chain_at(f, f->desc, 0, o, 3);
    got = submit(f, 0);
    if (r32(f, R_STATUS) & S_NEEDS_RESET)
        expect_broken(f);
    else
        assert_true(got >= 0);
    recover(f);
    assert_true(disk_pristine(f, 0, 512));
}

int main(void)
{
    vmm_log_set(count_log, NULL, VMM_LOG_WARN);
#define RNG_T(name) cmocka_unit_test_setup_teardown(name, setup_rng, teardown)
#define BLK_T(name) cmocka_unit_test_setup_teardown(name, setup_blk, teardown)
    const struct CMUnitTest tests[] = {
        BLK_T(test_blk_identity_and_config),
        BLK_T(test_blk_read),
        BLK_T(test_blk_write),
        BLK_T(test_blk_flush_and_get_id),
        BLK_T(test_blk_discard_write_zeroes),
        BLK_T(test_blk_discard_flags),
        BLK_T(test_blk_large_disk),
        BLK_T(test_blk_readonly),
        BLK_T(test_blk_indirect),
        BLK_T(test_blk_sector_overflow),
        BLK_T(test_blk_beyond_capacity),
        BLK_T(test_blk_length_not_sector_multiple),
        BLK_T(test_blk_bad_data_buffer),
        BLK_T(test_blk_wrong_direction),
        BLK_T(test_blk_header_misplaced),
    };
#undef RNG_T
#undef BLK_T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
