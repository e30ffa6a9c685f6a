/* SPDX-License-Identifier: MIT */
/* Unit tests of the virtio-mmio transport, the split virtqueue and virtio-rng,
 * driven by a driver-side fake over plain memory (no KVM): negotiation,
 * requests, and every hostile-driver case for chains, indirect tables, queue
 * set-up, notifications and registers. */
#include "virtio_driver.h"

/* ---- identity and negotiation ---- */

static void test_rng_identity(void **st)
{
    struct fx *f = *st;
    assert_int_equal(f->nclaims, 1);
    assert_int_equal(f->space, VMM_SPACE_MMIO);
    assert_int_equal(f->base, MMIO_BASE);
    assert_int_equal(f->len, 0x200);
    assert_int_equal(r32(f, R_MAGIC), MAGIC);
    assert_int_equal(r32(f, R_VERSION), 2);
    assert_int_equal(r32(f, R_DEVICE_ID), 4);
    assert_int_equal(r32(f, R_STATUS), 0);
    assert_int_equal(r32(f, R_ISR), 0);
    w32(f, R_QUEUE_SEL, 0);
    uint32_t max = r32(f, R_QUEUE_NUM_MAX);
    assert_true(max >= NUM && max <= 32768 && (max & (max - 1)) == 0);
    assert_int_equal(r32(f, R_QUEUE_READY), 0);
    /* One queue only. */
    w32(f, R_QUEUE_SEL, 1);
    assert_int_equal(r32(f, R_QUEUE_NUM_MAX), 0);
    assert_int_equal(r32(f, R_CONFIG_GEN), r32(f, R_CONFIG_GEN));
    /* Nothing drove the interrupt line yet. */
    assert_int_equal(f->level[IRQ], -1);
}

static void test_features(void **st)
{
    struct fx *f = *st;
    uint64_t offered = dev_features(f);
    assert_true(offered & F_VERSION_1);
    assert_true(offered & F_INDIRECT);
    /* Reading again gives the same words. */
    assert_int_equal(dev_features(f), offered);
    assert_true(negotiate(f, F_VERSION_1 | F_INDIRECT) & S_FEATURES_OK);
    queue_setup(f, NUM);
    w32(f, R_STATUS, S_LIVE);
    assert_int_equal(r32(f, R_STATUS), S_LIVE);
    expect_serves(f);
    /* The minimum: VERSION_1 alone. */
    start(f, F_VERSION_1, NUM);
    expect_serves(f);
}

/* ---- virtio-rng ---- */

static void test_rng_fills_buffer(void **st)
{
    struct fx *f = *st;
    start_default(f);
    memset(at(f, DATA, 512), 0, 512);
    assert_int_equal(rng_get(f, DATA, 256), 256);
    assert_false(all_bytes(at(f, DATA, 256), 256, 0));
    assert_true(all_bytes(at(f, DATA + 256, 256), 256, 0));
    /* Bytes differ between requests. */
    uint8_t first[256];
    memcpy(first, at(f, DATA, 256), 256);
    assert_int_equal(rng_get(f, DATA, 256), 256);
    assert_memory_not_equal(first, at(f, DATA, 256), 256);
    /* Two buffers in one chain both get bytes. */
    memset(at(f, DATA, 512), 0, 512);
    const struct seg s[] = {{DATA, 100, D_WRITE}, {DATA + 256, 156, D_WRITE}};
    chain_at(f, f->desc, 2, s, 2);
    assert_int_equal(submit(f, 2), 256);
    assert_false(all_bytes(at(f, DATA, 100), 100, 0));
    assert_false(all_bytes(at(f, DATA + 256, 156), 156, 0));
    assert_true(all_bytes(at(f, DATA + 100, 156), 156, 0));
}

static void test_rng_default_cap(void **st)
{
    struct fx *f = *st;
    start_default(f);
    const uint32_t len = 100000;
    memset(at(f, DATA, len), 0x5a, len);
    assert_int_equal(rng_get(f, DATA, len), 65536);
    assert_true(all_bytes(at(f, DATA + 65536, len - 65536), len - 65536, 0x5a));
}

static void test_rng_configured_cap(void **st)
{
    struct fx *f = *st;
    assert_int_equal(attach(f, RNG, "{\"mmio\": 268435456, \"max_bytes\": 100}"), 0);
    start_default(f);
    memset(at(f, DATA, 4096), 0x5a, 4096);
    assert_int_equal(rng_get(f, DATA, 4096), 100);
    assert_true(all_bytes(at(f, DATA + 100, 3996), 3996, 0x5a));
    /* The cap spans buffers: 60 into the first, 40 into the second. */
    memset(at(f, DATA, 4096), 0x5a, 4096);
    const struct seg s[] = {{DATA, 60, D_WRITE}, {DATA + 1024, 60, D_WRITE}};
    chain_at(f, f->desc, 0, s, 2);
    assert_int_equal(submit(f, 0), 100);
    assert_true(all_bytes(at(f, DATA + 1024 + 40, 20), 20, 0x5a));
    assert_true(all_bytes(at(f, DATA + 60, 1024 - 60), 1024 - 60, 0x5a));
}

static void test_rng_interrupt(void **st)
{
    struct fx *f = *st;
    start_default(f);
    assert_int_equal(r32(f, R_ISR), 0);
    assert_int_not_equal(f->level[IRQ], 1);
    assert_int_equal(rng_get(f, DATA, 16), 16);
    assert_true(r32(f, R_ISR) & ISR_USED);
    assert_int_equal(f->level[IRQ], 1);
    /* Acknowledging another bit leaves this one. */
    w32(f, R_ISR_ACK, ISR_CONFIG);
    assert_true(r32(f, R_ISR) & ISR_USED);
    assert_int_equal(f->level[IRQ], 1);
    w32(f, R_ISR_ACK, ISR_USED);
    assert_int_equal(r32(f, R_ISR), 0);
    assert_int_equal(f->level[IRQ], 0);
    /* No other line was touched. */
    for (int i = 0; i < 24; i++)
        if (i != IRQ)
            assert_int_equal(f->level[i], -1);
}

static void test_rng_without_irq(void **st)
{
    struct fx *f = *st;
    assert_int_equal(attach(f, RNG, "{\"mmio\": 268435456}"), 0);
    start_default(f);
    assert_int_equal(rng_get(f, DATA, 16), 16);
    /* The driver polls: the status bit is there, no line is driven. */
    assert_true(r32(f, R_ISR) & ISR_USED);
    w32(f, R_ISR_ACK, ISR_USED);
    assert_int_equal(r32(f, R_ISR), 0);
    assert_int_equal(f->irq_calls, 0);
}

static void test_rng_indirect(void **st)
{
    struct fx *f = *st;
    start(f, F_VERSION_1 | F_INDIRECT, NUM);
    memset(at(f, DATA, 512), 0, 512);
    const struct seg s[] = {
        {DATA, 32, D_WRITE}, {DATA + 64, 32, D_WRITE}, {DATA + 128, 64, D_WRITE}};
    chain_at(f, ITABLE, 0, s, 3);
    desc(f, 0, ITABLE, 3 * 16, D_INDIRECT, 0);
    assert_int_equal(submit(f, 0), 128);
    assert_false(all_bytes(at(f, DATA, 32), 32, 0));
    assert_false(all_bytes(at(f, DATA + 64, 32), 32, 0));
    assert_false(all_bytes(at(f, DATA + 128, 64), 64, 0));
    assert_true(all_bytes(at(f, DATA + 32, 32), 32, 0));
}

/* A full chain of exactly the queue size is legal. */
static void test_chain_of_queue_size(void **st)
{
    struct fx *f = *st;
    start_default(f);
    struct seg s[NUM];
    for (unsigned int i = 0; i < NUM; i++)
        s[i] = (struct seg){DATA + 64ull * i, 8, D_WRITE};
    chain_at(f, f->desc, 0, s, NUM);
    assert_int_equal(submit(f, 0), 8 * NUM);
}

/* ---- hostile chains (THREATS.md "Virtqueues") ---- */

static void test_chain_loops_to_itself(void **st)
{
    struct fx *f = *st;
    start_default(f);
    desc(f, 0, DATA, 16, D_WRITE | D_NEXT, 0);
    assert_int_equal(submit(f, 0), -1);
    expect_broken(f);
    recover(f);
    /* Empty buffers add no bytes: only the walk's own bound stops this. */
    desc(f, 0, DATA, 0, D_WRITE | D_NEXT, 0);
    assert_int_equal(submit(f, 0), -1);
    expect_broken(f);
    recover(f);
}

static void test_chain_a_b_a(void **st)
{
    struct fx *f = *st;
    const uint32_t lens[] = {16, 0};
    start_default(f);
    for (size_t i = 0; i < VMM__ARRAY_LEN(lens); i++) {
        desc(f, 0, DATA, lens[i], D_WRITE | D_NEXT, 1);
        desc(f, 1, DATA + 16, lens[i], D_WRITE | D_NEXT, 0);
        assert_int_equal(submit(f, 0), -1);
        expect_broken(f);
        recover(f);
    }
}

static void test_chain_longer_than_queue(void **st)
{
    struct fx *f = *st;
    start_default(f);
    /* All NUM descriptors, then back into the middle. */
    for (uint16_t i = 0; i < NUM; i++)
        desc(f, i, DATA + 16ull * i, 16, D_WRITE | D_NEXT, i + 1 < NUM ? (uint16_t)(i + 1) : 3);
    assert_int_equal(submit(f, 0), -1);
    expect_broken(f);
    recover(f);
}

static void test_next_beyond_queue(void **st)
{
    struct fx *f = *st;
    const uint16_t next[] = {NUM, NUM + 1, 0xffff};
    start_default(f);
    for (size_t i = 0; i < VMM__ARRAY_LEN(next); i++) {
        /* Plausible descriptors lie past the table, where a device that
         * followed next would find them. */
        desc(f, NUM, DATA + 16, 16, D_WRITE, 0);
        desc(f, NUM + 1, DATA + 32, 16, D_WRITE, 0);
        desc(f, 0, DATA, 16, D_WRITE | D_NEXT, next[i]);
        assert_int_equal(submit(f, 0), -1);
        expect_broken(f);
        recover(f);
    }
}

static void test_head_beyond_queue(void **st)
{
    struct fx *f = *st;
    const uint16_t head[] = {NUM, 0xffff};
    start_default(f);
    for (size_t i = 0; i < VMM__ARRAY_LEN(head); i++) {
        desc(f, NUM, DATA, 16, D_WRITE, 0);
        assert_int_equal(submit(f, head[i]), -1);
        expect_broken(f);
        recover(f);
    }
}

static void test_same_head_twice(void **st)
{
    struct fx *f = *st;
    start_default(f);
    desc(f, 0, DATA, 16, D_WRITE, 0);
    publish(f, 0);
    publish(f, 0);
    notify(f, 0);
    if (r32(f, R_STATUS) & S_NEEDS_RESET) {
        expect_broken(f);
    } else {
        for (int i = 0; i < 2; i++) {
            uint32_t id, len;
            assert_true(take_used(f, &id, &len));
            assert_int_equal(id, 0);
            assert_int_equal(len, 16);
        }
        assert_int_equal(used_idx(f), 2);
    }
    recover(f);
}

static void test_avail_idx_jump(void **st)
{
    struct fx *f = *st;
    /* 0xffff ahead is also one behind. */
    const uint16_t jump[] = {NUM + 1, 0x8000, 0xffff};
    start_default(f);
    for (size_t i = 0; i < VMM__ARRAY_LEN(jump); i++) {
        desc(f, 0, DATA, 16, D_WRITE, 0);
        uint16_t before = used_idx(f);
        put16(f, f->avail + 2, (uint16_t)(f->avail_idx + jump[i]));
        notify(f, 0);
        assert_int_equal(used_idx(f), before);
        expect_broken(f);
        recover(f);
    }
}

static void test_avail_idx_backwards(void **st)
{
    struct fx *f = *st;
    start_default(f);
    assert_int_equal(rng_get(f, DATA, 16), 16);
    assert_int_equal(rng_get(f, DATA, 16), 16);
    /* From 2 back to 1: 65535 new entries, more than the queue holds. */
    put16(f, f->avail + 2, 1);
    notify(f, 0);
    assert_int_equal(used_idx(f), 2);
    expect_broken(f);
    recover(f);
}

/* The 16-bit ring indices wrap after 65535 (§2.7.6); full batches also check
 * that exactly a queue's worth outstanding is not mistaken for a jump. */
static void test_avail_idx_wraps(void **st)
{
    struct fx *f = *st;
    start_default(f);
    for (uint16_t i = 0; i < NUM; i++)
        desc(f, i, DATA + 4ull * i, 4, D_WRITE, 0);
    const unsigned int batches = 65536 / NUM + 3;
    for (unsigned int b = 0; b < batches; b++) {
        for (uint16_t i = 0; i < NUM; i++)
            publish(f, i);
        notify(f, 0);
        for (uint16_t i = 0; i < NUM; i++) {
            uint32_t id = 0xffff, len = 0;
            if (!take_used(f, &id, &len))
                fail_msg("batch %u: %u of %u used entries", b, i, NUM);
            assert_int_equal(id, i);
            assert_int_equal(len, 4);
        }
        assert_int_equal(used_idx(f), f->avail_idx);
    }
    /* It did wrap. */
    assert_true(f->avail_idx < NUM * 4);
    assert_int_equal(r32(f, R_STATUS), S_LIVE);
}

static void test_buffer_at_gpa_zero(void **st)
{
    struct fx *f = *st;
    start_default(f);
    memset(at(f, 0, 128), 0, 128);
    assert_int_equal(rng_get(f, 0, 64), 64);
    assert_false(all_bytes(at(f, 0, 64), 64, 0));
    assert_true(all_bytes(at(f, 64, 64), 64, 0));
}

static void test_buffer_outside_ram(void **st)
{
    struct fx *f = *st;
    static const struct {
        uint64_t addr;
        uint32_t len;
    } bad[] = {
        {RAM_SIZE, 64},              /* just past RAM */
        {RAM_SIZE + 0x10000, 64},    /* well past */
        {1ull << 40, 64},            /* far away */
        {RAM_SIZE - 8, 64},          /* straddling the end */
        {HOLE, 64},                  /* in a hole */
        {HOLE - 8, 64},              /* straddling a hole */
        {MMIO_BASE, 64},             /* on the device's own registers */
        {0xffffffff00000000ull, 64}, /* high, no overflow */
    };
    start_default(f);
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad); i++) {
        long got = rng_get(f, bad[i].addr, bad[i].len);
        expect_refused(f, got);
    }
}

static void test_buffer_addr_len_overflow(void **st)
{
    struct fx *f = *st;
    start_default(f);
    assert_int_equal(rng_get(f, 0xfffffffffffffff0ull, 0x20), -1);
    expect_broken(f);
    recover(f);
    assert_int_equal(rng_get(f, 0xffffffffffffffffull, 2), -1);
    expect_broken(f);
    recover(f);
    /* Ending exactly at 2^64 does not wrap; it is just not RAM. */
    expect_refused(f, rng_get(f, 0xfffffffffffffff0ull, 0x10));
}

static void test_length_zero_and_max(void **st)
{
    struct fx *f = *st;
    start_default(f);
    memset(at(f, DATA, 16), 0x5a, 16);
    long got = rng_get(f, DATA, 0);
    if (!(r32(f, R_STATUS) & S_NEEDS_RESET))
        assert_true(all_bytes(at(f, DATA, 16), 16, 0x5a));
    expect_refused(f, got);

    /* 4 GiB - 1 from inside RAM: at most the cap is written, all of it in RAM. */
    memset(at(f, DATA, 0x20000), 0x5a, 0x20000);
    got = rng_get(f, DATA, 0xffffffff);
    if (r32(f, R_STATUS) & S_NEEDS_RESET) {
        expect_broken(f);
    } else {
        assert_true(got >= 0 && got <= 65536);
        assert_true(all_bytes(at(f, DATA + 65536, 0x10000), 0x10000, 0x5a));
    }
    recover(f);
    got = rng_get(f, 0, 0xffffffff);
    if (r32(f, R_STATUS) & S_NEEDS_RESET)
        expect_broken(f);
    else
        assert_true(got >= 0 && got <= 65536);
    recover(f);
}

static void test_length_sum_overflow(void **st)
{
    struct fx *f = *st;
    static const uint32_t lens[][2] = {{0x80000000u, 0x80000000u}, {0xffffffffu, 1}};
    start_default(f);
    for (size_t i = 0; i < VMM__ARRAY_LEN(lens); i++) {
        const struct seg s[] = {{DATA, lens[i][0], D_WRITE}, {DATA, lens[i][1], D_WRITE}};
        chain_at(f, f->desc, 0, s, 2);
        assert_int_equal(submit(f, 0), -1);
        expect_broken(f);
        recover(f);
    }
}

static void test_wrong_direction(void **st)
{
    struct fx *f = *st;
    start_default(f);
    /* §2.7.4.2: readable buffers come before writable ones. */
    const struct seg s[] = {{DATA, 16, D_WRITE}, {DATA + 16, 16, 0}};
    chain_at(f, f->desc, 0, s, 2);
    assert_int_equal(submit(f, 0), -1);
    expect_broken(f);
    recover(f);
    /* A virtio-rng request the device could only read: it must not write it. */
    memset(at(f, DATA, 16), 0x5a, 16);
    desc(f, 0, DATA, 16, 0, 0);
    long got = submit(f, 0);
    assert_true(all_bytes(at(f, DATA, 16), 16, 0x5a));
    expect_refused(f, got);
}

/* Fields the driver rewrites after the device read them: the device keeps
 * using what it read (one read per field), never a mix. */
static void arm(struct fx *f, uint64_t gpa, const void *bytes, size_t len)
{
    f->trap.armed = true;
    f->trap.gpa = gpa;
    f->trap.len = len;
    memcpy(f->trap.bytes, bytes, len);
}

static void test_fields_rewritten_after_read(void **st)
{
    struct fx *f = *st;
    start_default(f);
    /* A descriptor grows to 64 KiB once read. */
    memset(at(f, DATA, 0x10000), 0x5a, 0x10000);
    desc(f, 0, DATA, 16, D_WRITE, 0);
    const uint32_t big[4] = {(uint32_t)DATA, 0, 0x10000, D_WRITE};
    arm(f, f->desc, big, 16);
    publish(f, 0);
    notify(f, 0);
    assert_false(f->trap.armed);
    uint32_t id, len;
    assert_true(take_used(f, &id, &len));
    assert_int_equal(id, 0);
    assert_int_equal(len, 16);
    assert_true(all_bytes(at(f, DATA + 16, 0x10000 - 16), 0x10000 - 16, 0x5a));
    /* An available-ring entry turns into a bad head once read. */
    const uint16_t bad = 0xffff;
    arm(f, f->avail + 4 + 2ull * (f->avail_idx % f->num), &bad, 2);
    publish(f, 0);
    notify(f, 0);
    assert_false(f->trap.armed);
    assert_true(take_used(f, &id, &len));
    assert_int_equal(id, 0);
    assert_int_equal(r32(f, R_STATUS), S_LIVE);
}

static void test_blk_header_rewritten_after_read(void **st)
{
    struct fx *f = *st;
    start_default(f);
    /* After the check, a sector whose byte offset wraps to 0. */
    const uint32_t hdr[4] = {T_IN, 0, 5, 0}, evil[4] = {T_IN, 0, 0, 0x00800000};
    memcpy(at(f, HDR, 16), hdr, 16);
    *at(f, STAT, 1) = 0xff;
    memset(at(f, BUF, 512), 0, 512);
    const struct seg s[] = {{HDR, 16, 0}, {BUF, 512, D_WRITE}, {STAT, 1, D_WRITE}};
    chain_at(f, f->desc, 0, s, 3);
    arm(f, HDR, evil, 16);
    assert_int_equal(submit(f, 0), 513);
    assert_false(f->trap.armed);
    assert_int_equal(*at(f, STAT, 1), BLK_OK);
    assert_true(matches_pat(at(f, BUF, 512), 5 * 512, 512));
}

/* ---- hostile indirect tables ---- */

static void test_indirect_not_negotiated(void **st)
{
    struct fx *f = *st;
    start_default(f);
    assert_false(f->features & F_INDIRECT);
    desc_at(f, ITABLE, 0, DATA, 16, D_WRITE, 0);
    desc(f, 0, ITABLE, 16, D_INDIRECT, 0);
    assert_int_equal(submit(f, 0), -1);
    expect_broken(f);
    recover(f);
}

/* Descriptor 0 names a table the caller laid out, which the device must refuse. */
static void indirect_case(struct fx *f, uint64_t addr, uint32_t len, uint16_t flags)
{
    start(f, F_VERSION_1 | F_INDIRECT, NUM);
    assert_true(f->features & F_INDIRECT);
    desc(f, 0, addr, len, flags, 1);
    desc(f, 1, DATA + 0x100, 16, D_WRITE, 0);
    assert_int_equal(submit(f, 0), -1);
    expect_broken(f);
    w32(f, R_STATUS, 0);
}

static void test_indirect_nested(void **st)
{
    struct fx *f = *st;
    desc_at(f, ITABLE, 0, ITABLE + 0x100, 16, D_INDIRECT, 0);
    desc_at(f, ITABLE + 0x100, 0, DATA, 16, D_WRITE, 0);
    indirect_case(f, ITABLE, 16, D_INDIRECT);
    /* Also as the second entry of the table. */
    desc_at(f, ITABLE, 0, DATA, 16, D_WRITE | D_NEXT, 1);
    desc_at(f, ITABLE, 1, ITABLE + 0x100, 16, D_INDIRECT, 0);
    indirect_case(f, ITABLE, 32, D_INDIRECT);
    recover(f);
}

static void test_indirect_bad_length(void **st)
{
    struct fx *f = *st;
    const uint32_t lens[] = {0, 8, 15, 17, 24, 0xfffffff0u};
    for (unsigned int i = 0; i < 4; i++)
        desc_at(f, ITABLE, (uint16_t)i, DATA + 16ull * i, 16, D_WRITE, 0);
    for (size_t i = 0; i < VMM__ARRAY_LEN(lens); i++)
        indirect_case(f, ITABLE, lens[i], D_INDIRECT);
    recover(f);
}

static void test_indirect_loop(void **st)
{
    struct fx *f = *st;
    /* To itself. */
    desc_at(f, ITABLE, 0, DATA, 16, D_WRITE | D_NEXT, 0);
    indirect_case(f, ITABLE, 16, D_INDIRECT);
    /* A -> B -> A. */
    desc_at(f, ITABLE, 0, DATA, 16, D_WRITE | D_NEXT, 1);
    desc_at(f, ITABLE, 1, DATA + 16, 16, D_WRITE | D_NEXT, 0);
    indirect_case(f, ITABLE, 32, D_INDIRECT);
    /* next beyond the table, though inside the queue size. */
    desc_at(f, ITABLE, 0, DATA, 16, D_WRITE | D_NEXT, 2);
    desc_at(f, ITABLE, 2, DATA + 32, 16, D_WRITE, 0);
    indirect_case(f, ITABLE, 32, D_INDIRECT);
    recover(f);
}

static void test_indirect_with_next(void **st)
{
    struct fx *f = *st;
    desc_at(f, ITABLE, 0, DATA, 16, D_WRITE, 0);
    /* §2.7.5.3.1: the driver must not set both. */
    indirect_case(f, ITABLE, 16, D_INDIRECT | D_NEXT);
    recover(f);
}

static void test_indirect_table_outside_ram(void **st)
{
    struct fx *f = *st;
    indirect_case(f, RAM_SIZE, 32, D_INDIRECT);
    /* Its first entry in RAM, leading to the second past the end. */
    desc_at(f, RAM_SIZE - 16, 0, DATA, 16, D_WRITE | D_NEXT, 1);
    indirect_case(f, RAM_SIZE - 16, 32, D_INDIRECT);
    indirect_case(f, HOLE, 32, D_INDIRECT);
    indirect_case(f, 0xfffffffffffffff0ull, 32, D_INDIRECT);
    recover(f);
}

/* ---- hostile queue set-up ---- */

/* After a bad set-up the device must not take the queue: QueueReady stays 0
 * or the device wants a reset; either way nothing is served. */
static void expect_queue_refused(struct fx *f, uint32_t ready)
{
    uint32_t s = r32(f, R_STATUS);
    assert_true(ready == 0 || (s & S_NEEDS_RESET));
    rings_at(f, NUM, DESC, AVAIL, USED);
    poke(f, R_STATUS, s | S_DRIVER_OK);
    desc(f, 0, DATA, 16, D_WRITE, 0);
    publish(f, 0);
    notify(f, 0);
    assert_int_equal(used_idx(f), 0);
    recover(f);
}

static void test_queue_size_bad(void **st)
{
    struct fx *f = *st;
    w32(f, R_QUEUE_SEL, 0);
    uint32_t max = r32(f, R_QUEUE_NUM_MAX);
    const uint32_t nums[] = {0, 3, 6, max - 1, max + 1, max * 2, 0x10000 | NUM, 0xffffffff};
    for (size_t i = 0; i < VMM__ARRAY_LEN(nums); i++) {
        assert_true(negotiate(f, default_want(f)) & S_FEATURES_OK);
        rings_at(f, NUM, DESC, AVAIL, USED);
        expect_queue_refused(f, queue_try(f, 0, nums[i], DESC, AVAIL, USED));
    }
}

static void test_rings_misplaced(void **st)
{
    struct fx *f = *st;
    static const struct {
        uint64_t desc, avail, used;
    } bad[] = {
        {DESC + 8, AVAIL, USED},              /* descriptors not 16-aligned */
        {DESC, AVAIL + 1, USED},              /* available ring not 2-aligned */
        {DESC, AVAIL, USED + 2},              /* used ring not 4-aligned */
        {RAM_SIZE, AVAIL, USED},              /* past RAM */
        {RAM_SIZE - 64, AVAIL, USED},         /* straddling the end */
        {DESC, HOLE - 8, USED},               /* straddling a hole */
        {DESC, AVAIL, HOLE},                  /* in a hole */
        {MMIO_BASE, AVAIL, USED},             /* on the registers */
        {DESC, AVAIL, 1ull << 32},            /* above 4 GiB */
        {DESC, AVAIL, 0xfffffffffffffff0ull}, /* wrapping */
        {DESC, 0xfffffffffffffffeull, USED},  /* wrapping */
        {0xfffffffffffffff0ull, AVAIL, USED}, /* wrapping */
        {0xffffffff00000000ull, AVAIL, USED}, /* high */
        {DESC, AVAIL, RAM_SIZE - 68},         /* last bytes past RAM */
    };
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad); i++) {
        assert_true(negotiate(f, default_want(f)) & S_FEATURES_OK);
        rings_at(f, NUM, DESC, AVAIL, USED);
        expect_queue_refused(f, queue_try(f, 0, NUM, bad[i].desc, bad[i].avail, bad[i].used));
    }
}

/* Ring addresses and size are fixed while the queue is ready (§4.2.3.2). */
static void test_rings_changed_after_ready(void **st)
{
    struct fx *f = *st;
    start_default(f);
    memset(at(f, ALT, 0x3000), 0, 0x3000);
    poke(f, R_QUEUE_NUM, NUM / 2);
    poke(f, R_DESC_LO, (uint32_t)ALT);
    poke(f, R_AVAIL_LO, (uint32_t)(ALT + 0x1000));
    poke(f, R_USED_LO, (uint32_t)(ALT + 0x2000));
    poke(f, R_USED_HI, 1);
    assert_int_equal(r32(f, R_QUEUE_READY), 1);
    /* Requests keep flowing through the old rings, all NUM entries of them. */
    for (unsigned int i = 0; i < NUM + 2; i++)
        expect_serves(f);
    assert_true(all_bytes(at(f, ALT, 0x3000), 0x3000, 0));
    /* The same through QueueSel naming the queue again. */
    w32(f, R_QUEUE_SEL, 0);
    poke(f, R_USED_LO, (uint32_t)(ALT + 0x2000));
    expect_serves(f);
    assert_true(all_bytes(at(f, ALT, 0x3000), 0x3000, 0));
}

/* ---- notifications ---- */

static void test_notify_empty_ring(void **st)
{
    struct fx *f = *st;
    start_default(f);
    for (int i = 0; i < 3; i++)
        notify(f, 0);
    assert_int_equal(used_idx(f), 0);
    assert_int_equal(r32(f, R_STATUS), S_LIVE);
    expect_serves(f);
    notify(f, 0);
    assert_int_equal(used_idx(f), 1);
    assert_int_equal(r32(f, R_STATUS), S_LIVE);
}

/* §3.1.1: no buffer is used before DRIVER_OK. */
static void test_notify_before_driver_ok(void **st)
{
    struct fx *f = *st;
    assert_true(negotiate(f, default_want(f)) & S_FEATURES_OK);
    queue_setup(f, NUM);
    desc(f, 0, DATA, 16, D_WRITE, 0);
    publish(f, 0);
    notify(f, 0);
    assert_int_equal(used_idx(f), 0);
    assert_int_equal(r32(f, R_ISR), 0);
    w32(f, R_STATUS, S_LIVE);
    notify(f, 0);
    uint32_t id, len;
    assert_true(take_used(f, &id, &len));
    assert_int_equal(id, 0);
    assert_int_equal(len, 16);
}

/* §4.2.2.1: the device does not access a queue while QueueReady is 0. */
static void test_notify_queue_not_ready(void **st)
{
    struct fx *f = *st;
    /* Programmed, never made ready. */
    assert_true(negotiate(f, default_want(f)) & S_FEATURES_OK);
    rings_at(f, NUM, DESC, AVAIL, USED);
    w32(f, R_QUEUE_SEL, 0);
    w32(f, R_QUEUE_NUM, NUM);
    w32(f, R_DESC_LO, (uint32_t)DESC);
    w32(f, R_AVAIL_LO, (uint32_t)AVAIL);
    w32(f, R_USED_LO, (uint32_t)USED);
    w32(f, R_STATUS, S_LIVE);
    desc(f, 0, DATA, 16, D_WRITE, 0);
    publish(f, 0);
    notify(f, 0);
    assert_int_equal(used_idx(f), 0);
    /* Made ready, then taken away again by the driver. */
    start_default(f);
    expect_serves(f);
    w32(f, R_QUEUE_READY, 0);
    assert_int_equal(r32(f, R_QUEUE_READY), 0);
    publish(f, 0);
    notify(f, 0);
    assert_int_equal(used_idx(f), 1);
    recover(f);
}

static void test_notify_after_reset(void **st)
{
    struct fx *f = *st;
    start_default(f);
    desc(f, 0, DATA, 16, D_WRITE, 0);
    publish(f, 0);
    w32(f, R_STATUS, 0);
    notify(f, 0);
    /* The reset forgot the rings: nothing is written there. */
    assert_true(all_bytes(at(f, USED, 6 + 8 * NUM), 6 + 8 * NUM, 0));
    assert_int_equal(r32(f, R_STATUS), 0);
    assert_int_equal(r32(f, R_ISR), 0);
    recover(f);
}

static void test_notify_bad_queue_index(void **st)
{
    struct fx *f = *st;
    const uint32_t q[] = {1, 7, 8, 9, 0xffff, 0x10000, 0xffffffff};
    start_default(f);
    desc(f, 0, DATA, 16, D_WRITE, 0);
    publish(f, 0);
    for (size_t i = 0; i < VMM__ARRAY_LEN(q); i++) {
        notify(f, q[i]);
        assert_int_equal(used_idx(f), 0);
        assert_int_equal(r32(f, R_STATUS), S_LIVE);
    }
    notify(f, 0);
    assert_int_equal(used_idx(f), 1);
}

/* ---- registers (THREATS.md "MMIO / PIO registers") ---- */

static void test_register_widths(void **st)
{
    struct fx *f = *st;
    /* An 8-byte write over QueueDesc{Low,High} is not a register write. */
    assert_true(negotiate(f, default_want(f)) & S_FEATURES_OK);
    rings_at(f, NUM, DESC, AVAIL, USED);
    w32(f, R_QUEUE_SEL, 0);
    w32(f, R_QUEUE_NUM, NUM);
    w32(f, R_DESC_LO, (uint32_t)DESC);
    w32(f, R_DESC_HI, 0);
    w32(f, R_AVAIL_LO, (uint32_t)AVAIL);
    w32(f, R_AVAIL_HI, 0);
    w32(f, R_USED_LO, (uint32_t)USED);
    w32(f, R_USED_HI, 0);
    uint64_t bogus = 0x0000000100012345ull;
    (void)acc(f, R_DESC_LO, &bogus, 8, true);
    (void)acc(f, R_USED_LO, &bogus, 2, true);
    (void)acc(f, R_AVAIL_LO + 1, &bogus, 1, true);
    w32(f, R_QUEUE_READY, 1);
    assert_int_equal(r32(f, R_QUEUE_READY), 1);
    w32(f, R_STATUS, S_LIVE);
    expect_serves(f);

    /* Narrow, wide and unaligned reads of 32-bit registers. */
    const unsigned int sizes[] = {1, 2, 8};
    for (size_t i = 0; i < VMM__ARRAY_LEN(sizes); i++) {
        assert_true(zero_or_ones(peek(f, R_MAGIC, sizes[i]), sizes[i]));
        assert_true(zero_or_ones(peek(f, R_STATUS, sizes[i]), sizes[i]));
        assert_true(zero_or_ones(peek(f, R_QUEUE_NUM_MAX, sizes[i]), sizes[i]));
    }
    assert_true(zero_or_ones(peek(f, R_MAGIC + 1, 4), 4));
    assert_true(zero_or_ones(peek(f, R_STATUS + 2, 4), 4));
    assert_true(zero_or_ones(peek(f, R_STATUS + 2, 2), 2));

    /* Narrow, wide and unaligned writes are ignored: no reset, no notify. */
    uint64_t zero = 0;
    for (size_t i = 0; i < VMM__ARRAY_LEN(sizes); i++)
        (void)acc(f, R_STATUS, &zero, sizes[i], true);
    (void)acc(f, R_STATUS - 2, &zero, 4, true);
    (void)acc(f, R_STATUS + 1, &zero, 1, true);
    assert_int_equal(r32(f, R_STATUS), S_LIVE);
    desc(f, 0, DATA, 16, D_WRITE, 0);
    publish(f, 0);
    uint16_t before = used_idx(f);
    for (size_t i = 0; i < VMM__ARRAY_LEN(sizes); i++)
        (void)acc(f, R_QUEUE_NOTIFY, &zero, sizes[i], true);
    assert_int_equal(used_idx(f), before);
    notify(f, 0);
    assert_int_equal(used_idx(f), (uint16_t)(before + 1));
    f->used_seen = used_idx(f);
    /* A narrow InterruptACK does not acknowledge. */
    assert_true(r32(f, R_ISR) & ISR_USED);
    uint64_t ones = ~0ull;
    (void)acc(f, R_ISR_ACK, &ones, 1, true);
    (void)acc(f, R_ISR_ACK, &ones, 2, true);
    assert_true(r32(f, R_ISR) & ISR_USED);
    expect_serves(f);
}

static void test_register_undefined_offsets(void **st)
{
    struct fx *f = *st;
    /* Reserved in the version 2 layout (§4.2.2), including v1's QueueAlign
     * (0x03c) and QueuePFN (0x040), and a config offset virtio-rng lacks. */
    const uint64_t offs[] = {0x018, 0x01c, 0x028, 0x02c, 0x03c, 0x040, 0x048, 0x04c, 0x054,
                             0x058, 0x05c, 0x068, 0x06c, 0x074, 0x078, 0x07c, 0x088, 0x08c,
                             0x098, 0x09c, 0x0a8, 0x0c8, 0x0cc, 0x0f0, 0x0f8, 0x100, 0x1fc};
    start_default(f);
    for (size_t i = 0; i < VMM__ARRAY_LEN(offs); i++) {
        uint64_t v = peek(f, offs[i], 4);
        if (!zero_or_ones(v, 4))
            fail_msg("offset 0x%llx reads 0x%llx", (unsigned long long)offs[i],
                     (unsigned long long)v);
        poke(f, offs[i], 0xffffffff);
        poke(f, offs[i], 0);
    }
    assert_int_equal(r32(f, R_STATUS), S_LIVE);
    assert_int_equal(r32(f, R_MAGIC), MAGIC);
    expect_serves(f);
}

static void test_register_read_only(void **st)
{
    struct fx *f = *st;
    start_default(f);
    expect_serves(f);
    assert_true(r32(f, R_ISR) & ISR_USED);
    uint32_t vendor = r32(f, R_VENDOR_ID), gen = r32(f, R_CONFIG_GEN);
    uint32_t max = r32(f, R_QUEUE_NUM_MAX);
    uint64_t offered = dev_features(f);
    poke(f, R_MAGIC, 0);
    poke(f, R_VERSION, 1);
    poke(f, R_DEVICE_ID, 0);
    poke(f, R_VENDOR_ID, 0);
    poke(f, R_CONFIG_GEN, gen + 1);
    w32(f, R_QUEUE_SEL, 0);
    poke(f, R_QUEUE_NUM_MAX, 1);
    poke(f, R_ISR, 0);
    for (uint32_t sel = 0; sel < 2; sel++) {
        w32(f, R_DEV_FEAT_SEL, sel);
        poke(f, R_DEV_FEAT, 0);
    }
    assert_int_equal(r32(f, R_MAGIC), MAGIC);
    assert_int_equal(r32(f, R_VERSION), 2);
    assert_int_equal(r32(f, R_DEVICE_ID), 4);
    assert_int_equal(r32(f, R_VENDOR_ID), vendor);
    assert_int_equal(r32(f, R_CONFIG_GEN), gen);
    w32(f, R_QUEUE_SEL, 0);
    assert_int_equal(r32(f, R_QUEUE_NUM_MAX), max);
    assert_true(r32(f, R_ISR) & ISR_USED);
    assert_int_equal(f->level[IRQ], 1);
    assert_int_equal(dev_features(f), offered);
    assert_int_equal(r32(f, R_STATUS), S_LIVE);
    expect_serves(f);
}

static void test_register_selectors_out_of_range(void **st)
{
    struct fx *f = *st;
    const uint32_t sels[] = {1, 7, 8, 9, 0xffff, 0x10000, 0xffffffff};
    /* Feature words beyond the second read as 0 ... */
    for (size_t i = 0; i < VMM__ARRAY_LEN(sels); i++) {
        if (sels[i] < 2)
            continue;
        w32(f, R_DEV_FEAT_SEL, sels[i]);
        assert_int_equal(r32(f, R_DEV_FEAT), 0);
    }
    /* ... and writing them does not spoil the negotiation. */
    w32(f, R_STATUS, 0);
    w32(f, R_STATUS, S_ACK | S_DRIVER);
    for (size_t i = 0; i < VMM__ARRAY_LEN(sels); i++) {
        if (sels[i] < 2)
            continue;
        w32(f, R_DRV_FEAT_SEL, sels[i]);
        poke(f, R_DRV_FEAT, 0xffffffff);
    }
    set_drv_features(f, F_VERSION_1);
    w32(f, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    assert_true(r32(f, R_STATUS) & S_FEATURES_OK);

    /* Queue 0 programmed but not ready; junk aimed at queues that do not
     * exist must not land on it. */
    rings_at(f, NUM, DESC, AVAIL, USED);
    w32(f, R_QUEUE_SEL, 0);
    w32(f, R_QUEUE_NUM, NUM);
    w32(f, R_DESC_LO, (uint32_t)DESC);
    w32(f, R_AVAIL_LO, (uint32_t)AVAIL);
    w32(f, R_USED_LO, (uint32_t)USED);
    for (size_t i = 0; i < VMM__ARRAY_LEN(sels); i++) {
        w32(f, R_QUEUE_SEL, sels[i]);
        assert_int_equal(r32(f, R_QUEUE_NUM_MAX), 0);
        assert_int_equal(r32(f, R_QUEUE_READY), 0);
        assert_int_equal(queue_try(f, sels[i], 3, 0x12345, 0x1, 0x3), 0);
        assert_int_equal(queue_try(f, sels[i], NUM, ALT, ALT + 0x1000, ALT + 0x2000), 0);
        assert_false(r32(f, R_STATUS) & S_NEEDS_RESET);
    }
    w32(f, R_QUEUE_SEL, 0);
    assert_int_equal(r32(f, R_QUEUE_READY), 0);
    w32(f, R_QUEUE_READY, 1);
    assert_int_equal(r32(f, R_QUEUE_READY), 1);
    w32(f, R_STATUS, S_LIVE);
    expect_serves(f);
    assert_true(all_bytes(at(f, ALT, 0x3000), 0x3000, 0));
}

/* The device serves exactly when it says it is live. */
static void expect_serves_iff_live(struct fx *f)
{
    uint32_t s = r32(f, R_STATUS);
    bool live = (s & S_DRIVER_OK) && !(s & S_NEEDS_RESET);
    desc(f, 0, DATA, 16, D_WRITE, 0);
    publish(f, 0);
    notify(f, 0);
    assert_int_equal(used_idx(f), live ? 1 : 0);
}

static void test_status_illegal_transitions(void **st)
{
    struct fx *f = *st;
    /* DRIVER_OK without FEATURES_OK: the queue must not be served. */
    w32(f, R_STATUS, 0);
    w32(f, R_STATUS, S_ACK);
    w32(f, R_STATUS, S_ACK | S_DRIVER);
    set_drv_features(f, F_VERSION_1);
    rings_at(f, NUM, DESC, AVAIL, USED);
    (void)queue_try(f, 0, NUM, DESC, AVAIL, USED);
    poke(f, R_STATUS, S_ACK | S_DRIVER | S_DRIVER_OK);
    desc(f, 0, DATA, 16, D_WRITE, 0);
    publish(f, 0);
    notify(f, 0);
    assert_int_equal(used_idx(f), 0);
    recover(f);

    /* FEATURES_OK before DRIVER, then on to DRIVER_OK. */
    w32(f, R_STATUS, 0);
    set_drv_features(f, F_VERSION_1);
    poke(f, R_STATUS, S_FEATURES_OK);
    rings_at(f, NUM, DESC, AVAIL, USED);
    (void)queue_try(f, 0, NUM, DESC, AVAIL, USED);
    poke(f, R_STATUS, r32(f, R_STATUS) | S_DRIVER_OK);
    expect_serves_iff_live(f);
    recover(f);

    /* §2.1.2: the driver never clears a bit but by a reset. */
    const uint32_t to[] = {S_ACK | S_DRIVER, S_ACK, S_LIVE & ~S_ACK, S_NEEDS_RESET};
    for (size_t i = 0; i < VMM__ARRAY_LEN(to); i++) {
        start_default(f);
        poke(f, R_STATUS, to[i]);
        expect_serves_iff_live(f);
        recover(f);
    }
}

static void test_features_never_offered(void **st)
{
    struct fx *f = *st;
    uint64_t offered = dev_features(f);
    /* virtio-rng has no feature bits of its own; bit 63 is reserved. */
    const uint64_t extra[] = {1ull << 0, 1ull << 23, 1ull << 63, ~offered};
    for (size_t i = 0; i < VMM__ARRAY_LEN(extra); i++) {
        assert_false(offered & extra[i]);
        uint32_t s = negotiate_raw(f, F_VERSION_1 | extra[i], true);
        assert_false(s & S_FEATURES_OK);
        /* A driver that goes on regardless gets no service. */
        rings_at(f, NUM, DESC, AVAIL, USED);
        (void)queue_try(f, 0, NUM, DESC, AVAIL, USED);
        poke(f, R_STATUS, S_LIVE);
        assert_false(r32(f, R_STATUS) & S_FEATURES_OK);
        desc(f, 0, DATA, 16, D_WRITE, 0);
        publish(f, 0);
        notify(f, 0);
        assert_int_equal(used_idx(f), 0);
        recover(f);
    }
    /* No legacy interface: VERSION_1 must be accepted (§6.1). */
    assert_false(negotiate_raw(f, 0, true) & S_FEATURES_OK);
    recover(f);
}

/* Features are settled at FEATURES_OK (§3.1.1): a later write to
 * DriverFeatures does not turn indirect descriptors on. */
static void test_features_written_late(void **st)
{
    struct fx *f = *st;
    start_default(f);
    assert_false(f->features & F_INDIRECT);
    w32(f, R_DRV_FEAT_SEL, 0);
    poke(f, R_DRV_FEAT, (uint32_t)F_INDIRECT);
    desc_at(f, ITABLE, 0, DATA, 16, D_WRITE, 0);
    desc(f, 0, ITABLE, 16, D_INDIRECT, 0);
    assert_int_equal(submit(f, 0), -1);
    expect_broken(f);
    recover(f);
}

/* A reset between publishing and notifying: the request is forgotten. */
static void test_reset_mid_request(void **st)
{
    struct fx *f = *st;
    start_default(f);
    desc(f, 0, DATA, 16, D_WRITE, 0);
    publish(f, 0);
    w32(f, R_STATUS, 0);
    w32(f, R_QUEUE_SEL, 0);
    assert_int_equal(r32(f, R_QUEUE_READY), 0);
    assert_int_equal(r32(f, R_STATUS), 0);
    notify(f, 0);
    assert_int_equal(used_idx(f), 0);
    /* The fresh set-up starts from ring index 0. */
    start_default(f);
    expect_serves(f);
    assert_int_equal(used_idx(f), 1);
    /* The embedder's reset does the same. */
    publish(f, 0);
    assert_int_equal(vmm_device_reset(f->dev), 0);
    assert_int_equal(r32(f, R_STATUS), 0);
    assert_int_equal(r32(f, R_QUEUE_READY), 0);
    assert_int_equal(r32(f, R_ISR), 0);
    notify(f, 0);
    assert_int_equal(used_idx(f), 1);
    recover(f);
}

static void test_repeated_resets(void **st)
{
    struct fx *f = *st;
    for (int i = 0; i < 100; i++)
        w32(f, R_STATUS, 0);
    assert_int_equal(r32(f, R_STATUS), 0);
    for (int i = 0; i < 300; i++) {
        start_default(f);
        expect_serves(f);
        assert_int_equal(used_idx(f), 1);
        if (i % 3 == 0) {
            /* Reset while broken, too. */
            desc(f, 0, DATA, 16, D_WRITE | D_NEXT, 0);
            publish(f, 0);
            notify(f, 0);
            assert_true(r32(f, R_STATUS) & S_NEEDS_RESET);
        }
        w32(f, R_STATUS, 0);
        w32(f, R_STATUS, 0);
        assert_int_equal(r32(f, R_STATUS), 0);
        assert_int_equal(r32(f, R_ISR), 0);
        assert_int_not_equal(f->level[IRQ], 1);
    }
    recover(f);
}

static void test_violation_is_logged(void **st)
{
    struct fx *f = *st;
    start_default(f);
    unsigned int before = logs.warnings;
    desc(f, 0, DATA, 16, D_WRITE | D_NEXT, 0);
    assert_int_equal(submit(f, 0), -1);
    assert_true(logs.warnings > before);
    assert_string_equal(logs.component, "rng0");
    recover(f);
}

/* ---- configuration ---- */

static void test_config_errors(void **st)
{
    struct fx *f = *st;
    char missing[160], bad_ro[192];
    snprintf(missing, sizeof missing, "{\"mmio\": 268435456, \"path\": \"%s.none\"}", f->disk);
    snprintf(bad_ro, sizeof bad_ro, "{\"mmio\": 268435456, \"path\": \"%s\", \"readonly\": 1}",
             f->disk);
    const struct {
        enum kind kind;
        const char *json;
    } cases[] = {
        {RNG, NULL},
        {RNG, "{}"},
        {RNG, "{\"irq\": 5}"},
        {RNG, "{\"mmio\": 268435456, \"bogus\": 1}"},
        {RNG, "{\"mmio\": 268435456, \"irq\": 24}"},
        {RNG, "{\"mmio\": 268435456, \"irq\": -1}"},
        {RNG, "{\"mmio\": 268435456, \"max_bytes\": -1}"},
        {RNG, "{\"mmio\": 18446744073709551615}"},
        {RNG, "{\"mmio\": \"x\"}"},
        {RNG, "{\"mmio\": 268435456"},
        {BLK, "{\"mmio\": 268435456}"},
        {BLK, "{\"mmio\": 268435456, \"path\": 5}"},
        {BLK, missing},
        {BLK, bad_ro},
        {BLK, "{\"mmio\": 268435456, \"path\": \"/\"}"},
    };
    for (size_t i = 0; i < VMM__ARRAY_LEN(cases); i++) {
        int rc = attach(f, cases[i].kind, cases[i].json);
        if (rc >= 0)
            fail_msg("%s: accepted", cases[i].json ? cases[i].json : "(null)");
        assert_null(f->dev);
        assert_true(vmm_error_last()->message[0] != 0);
    }
    /* The same with the fault removed is fine. */
    assert_int_equal(attach(f, RNG, "{\"mmio\": 268435456, \"irq\": 23, \"max_bytes\": 1}"), 0);
    assert_int_equal(attach_blk(f, ", \"readonly\": false"), 0);
}

int main(void)
{
    vmm_log_set(count_log, NULL, VMM_LOG_WARN);
#define RNG_T(name) cmocka_unit_test_setup_teardown(name, setup_rng, teardown)
#define BLK_T(name) cmocka_unit_test_setup_teardown(name, setup_blk, teardown)
    const struct CMUnitTest tests[] = {
        RNG_T(test_rng_identity),
        RNG_T(test_features),
        RNG_T(test_rng_fills_buffer),
        RNG_T(test_rng_default_cap),
        RNG_T(test_rng_configured_cap),
        RNG_T(test_rng_interrupt),
        RNG_T(test_rng_without_irq),
        RNG_T(test_rng_indirect),
        RNG_T(test_chain_of_queue_size),
        RNG_T(test_chain_loops_to_itself),
        RNG_T(test_chain_a_b_a),
        RNG_T(test_chain_longer_than_queue),
        RNG_T(test_next_beyond_queue),
        RNG_T(test_head_beyond_queue),
        RNG_T(test_same_head_twice),
        RNG_T(test_avail_idx_jump),
        RNG_T(test_avail_idx_backwards),
        RNG_T(test_avail_idx_wraps),
        RNG_T(test_buffer_at_gpa_zero),
        RNG_T(test_buffer_outside_ram),
        RNG_T(test_buffer_addr_len_overflow),
        RNG_T(test_length_zero_and_max),
        RNG_T(test_length_sum_overflow),
        RNG_T(test_wrong_direction),
        RNG_T(test_fields_rewritten_after_read),
        BLK_T(test_blk_header_rewritten_after_read),
        RNG_T(test_indirect_not_negotiated),
        RNG_T(test_indirect_nested),
        RNG_T(test_indirect_bad_length),
        RNG_T(test_indirect_loop),
        RNG_T(test_indirect_with_next),
        RNG_T(test_indirect_table_outside_ram),
        RNG_T(test_queue_size_bad),
        BLK_T(test_queue_size_bad),
        RNG_T(test_rings_misplaced),
        RNG_T(test_rings_changed_after_ready),
        RNG_T(test_notify_empty_ring),
        RNG_T(test_notify_before_driver_ok),
        RNG_T(test_notify_queue_not_ready),
        RNG_T(test_notify_after_reset),
        RNG_T(test_notify_bad_queue_index),
        BLK_T(test_notify_bad_queue_index),
        RNG_T(test_register_widths),
        BLK_T(test_register_widths),
        RNG_T(test_register_undefined_offsets),
        RNG_T(test_register_read_only),
        RNG_T(test_register_selectors_out_of_range),
        RNG_T(test_status_illegal_transitions),
        RNG_T(test_features_never_offered),
        RNG_T(test_features_written_late),
        RNG_T(test_reset_mid_request),
        BLK_T(test_reset_mid_request),
        RNG_T(test_repeated_resets),
        BLK_T(test_repeated_resets),
        RNG_T(test_violation_is_logged),
        cmocka_unit_test_setup_teardown(test_config_errors, setup_bare, teardown),
    };
#undef RNG_T
#undef BLK_T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
