/* SPDX-License-Identifier: MIT */
/* Unit tests of virtio-console over the virtio-mmio transport, driven by a
 * driver-side fake over plain memory (no KVM): output to a callback and to
 * pipes (with back-pressure), input from the embedder and from a pipe through
 * the device's I/O thread, config space, emergency write, and the hostile
 * driver cases that apply to a console. */
#include "virtio_driver.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

#define CON_F_SIZE      (1ull << 0)
#define CON_F_MULTIPORT (1ull << 1)
#define CON_F_EMERG     (1ull << 2)
#define CON_WANT        (F_VERSION_1 | CON_F_SIZE | CON_F_EMERG)

/* The driver's shadow of one queue. */
struct qs {
    uint32_t index;
    uint16_t num, avail_idx, used_seen;
    uint64_t desc, avail, used;
};

static struct qs rxq, txq;

#define RXBUF (DATA + 0x10000)
#define TXBUF (DATA + 0x20000)

/* ---- output collected from the callback ---- */

static struct {
    uint8_t data[1 << 20];
    size_t len;
    unsigned int calls;
} out;

static void out_cb(void *opaque, const void *data, size_t len)
{
    assert_ptr_equal(opaque, &out);
    assert_true(len >= 1);
    assert_true(len <= sizeof out.data - out.len);
    memcpy(out.data + out.len, data, len);
    out.len += len;
    out.calls++;
}

/* ---- set-up ---- */

static int attach_con(struct fx *f, const char *extra)
{
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"mmio\": %llu, \"irq\": %d%s}", (unsigned long long)MMIO_BASE, IRQ,
             extra);
    vmm__device_free(f->dev);
    f->dev = NULL;
    f->has_irq = true;
    for (int i = 0; i < 24; i++)
        f->level[i] = -1;
    return vmm__device_new("virtio-console", cfg, &fake_host, f, "con0", &f->dev);
}

static int setup_con(void **st)
{
    struct fx *f = fx_new();
    if (!f)
        return -1;
    *st = f;
    memset(&out, 0, sizeof out);
    if (attach_con(f, "") < 0) {
        teardown(st);
        return -1;
    }
    return 0;
}

static void q_init(struct fx *f, struct qs *q, uint32_t index, uint64_t rings)
{
    *q = (struct qs){index, NUM, 0, 0, rings, rings + 0x4000, rings + 0x5000};
    memset(at(f, q->desc, 16 * NUM), 0, 16 * NUM);
    memset(at(f, q->avail, 6 + 2 * NUM), 0, 6 + 2 * NUM);
    memset(at(f, q->used, 6 + 8 * NUM), 0, 6 + 8 * NUM);
    assert_int_equal(queue_try(f, index, NUM, q->desc, q->avail, q->used), 1);
}

/* Reset, negotiate, both queues, then DRIVER_OK if live. */
static void con_start(struct fx *f, bool live)
{
    assert_true(negotiate(f, CON_WANT) & S_FEATURES_OK);
    q_init(f, &rxq, 0, DESC);
    q_init(f, &txq, 1, ALT);
    if (live) {
        w32(f, R_STATUS, S_LIVE);
        assert_int_equal(r32(f, R_STATUS), S_LIVE);
    }
}

/* A chain of n segments at descriptors first.. of q. */
static void q_chain(struct fx *f, struct qs *q, uint16_t first, const struct seg *s, unsigned int n)
{
    chain_at(f, q->desc, first, s, n);
}

static void q_publish(struct fx *f, struct qs *q, uint16_t head)
{
    put16(f, q->avail + 4 + 2ull * (q->avail_idx % q->num), head);
    q->avail_idx++;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    put16(f, q->avail + 2, q->avail_idx);
}

static uint16_t q_used_idx(struct fx *f, struct qs *q)
{
    return __atomic_load_n((uint16_t *)at(f, q->used + 2, 2), __ATOMIC_ACQUIRE);
}

static bool q_take(struct fx *f, struct qs *q, uint32_t *id, uint32_t *len)
{
    if (q_used_idx(f, q) == q->used_seen)
        return false;
    uint64_t e = q->used + 4 + 8ull * (q->used_seen % q->num);
    *id = get32(f, e);
    *len = get32(f, e + 4);
    q->used_seen++;
    return true;
}

/* Wait (bounded, 10 s) for the I/O thread to return a chain on q. */
static bool q_wait(struct fx *f, struct qs *q, uint32_t *id, uint32_t *len)
{
    for (int i = 0; i < 10000; i++) {
        if (q_take(f, q, id, len))
            return true;
        usleep(1000);
    }
    return false;
}

static void status_wait(struct fx *f, uint32_t bit)
{
    for (int i = 0; i < 10000 && !(r32(f, R_STATUS) & bit); i++)
        usleep(1000);
}

/* Fill len bytes at gpa with a pattern seeded by seed. */
static void fill(struct fx *f, uint64_t gpa, size_t len, unsigned int seed)
{
    uint8_t *p = at(f, gpa, len);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 31 + seed + (i >> 8));
}

static bool is_fill(const uint8_t *p, size_t len, unsigned int seed)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != (uint8_t)(i * 31 + seed + (i >> 8)))
            return false;
    return true;
}

/* NEEDS_RESET, announced, and the transmitq served no more. */
static void expect_con_broken(struct fx *f)
{
    uint32_t s = r32(f, R_STATUS);
    assert_true(s & S_NEEDS_RESET);
    assert_true(r32(f, R_ISR) & ISR_CONFIG);
    assert_int_equal(f->level[IRQ], 1);
    uint16_t before = q_used_idx(f, &txq);
    memcpy(at(f, TXBUF, 2), "no", 2);
    const struct seg s1 = {TXBUF, 2, 0};
    q_chain(f, &txq, NUM - 1, &s1, 1);
    q_publish(f, &txq, NUM - 1);
    notify(f, 1);
    assert_int_equal(q_used_idx(f, &txq), before);
}

/* After a reset the device works again: output through the callback. */
static void con_recover(struct fx *f)
{
    w32(f, R_STATUS, 0);
    assert_int_equal(r32(f, R_STATUS), 0);
    assert_int_equal(r32(f, R_ISR), 0);
    con_start(f, true);
    assert_int_equal(vmm_virtio_console_set_output(f->dev, out_cb, &out), 0);
    out.len = 0;
    memcpy(at(f, TXBUF, 2), "ok", 2);
    const struct seg s1 = {TXBUF, 2, 0};
    q_chain(f, &txq, 0, &s1, 1);
    q_publish(f, &txq, 0);
    notify(f, 1);
    uint32_t id, len;
    assert_true(q_take(f, &txq, &id, &len));
    assert_int_equal(out.len, 2);
    assert_memory_equal(out.data, "ok", 2);
}

/* ---- identity, configuration ---- */

static void test_identity_and_config(void **st)
{
    struct fx *f = *st;
    assert_int_equal(f->nclaims, 1);
    assert_int_equal(f->base, MMIO_BASE);
    assert_int_equal(r32(f, R_MAGIC), MAGIC);
    assert_int_equal(r32(f, R_DEVICE_ID), 3);
    uint64_t offered = dev_features(f);
    assert_true(offered & F_VERSION_1);
    assert_true(offered & CON_F_SIZE);
    assert_true(offered & CON_F_EMERG);
    assert_false(offered & CON_F_MULTIPORT);
    /* Two queues, a third does not exist. */
    w32(f, R_QUEUE_SEL, 1);
    assert_true(r32(f, R_QUEUE_NUM_MAX) >= NUM);
    w32(f, R_QUEUE_SEL, 2);
    assert_int_equal(r32(f, R_QUEUE_NUM_MAX), 0);
    /* cols, rows default to 80x25; max_nr_ports and emerg_wr read 0. */
    assert_int_equal(peek(f, R_CONFIG, 2), 80);
    assert_int_equal(peek(f, R_CONFIG + 2, 2), 25);
    assert_int_equal(r32(f, R_CONFIG), 80 | 25u << 16);
    assert_int_equal(r32(f, R_CONFIG + 4), 0);
    assert_int_equal(r32(f, R_CONFIG + 8), 0);
    /* The driver cannot change them. */
    poke(f, R_CONFIG, 0xffffffff);
    assert_int_equal(r32(f, R_CONFIG), 80 | 25u << 16);
    /* Every offset and width reads safely; past the fields, a fixed value. */
    for (uint64_t off = R_CONFIG; off < 0x200; off++)
        for (unsigned int size = 1; size <= 8; size *= 2)
            if (off + size <= 0x200)
                (void)peek(f, off, size);
    assert_true(zero_or_ones(peek(f, R_CONFIG + 12, 4), 4));

    assert_int_equal(attach_con(f, ", \"cols\": 132, \"rows\": \"50\""), 0);
    assert_int_equal(peek(f, R_CONFIG, 2), 132);
    assert_int_equal(peek(f, R_CONFIG + 2, 2), 50);
}

static void test_bad_configs(void **st)
{
    struct fx *f = *st;
    static const char *const bad[] = {
        ", \"backend\": \"tty\"",
        ", \"backend\": 1",
        ", \"out_fd\": 1",
        ", \"backend\": \"stdio\", \"in_fd\": 0",
        ", \"backend\": \"fd\"",
        ", \"backend\": \"fd\", \"out_fd\": 987654",
        ", \"backend\": \"fd\", \"in_fd\": -1",
        ", \"cols\": 0",
        ", \"rows\": 65536",
        ", \"colour\": true",
    };
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad); i++) {
        assert_int_equal(attach_con(f, bad[i]), VMM_ECONFIG);
        assert_null(f->dev);
    }
    /* No mmio: refused too. */
    assert_int_equal(vmm__device_new("virtio-console", "{}", &fake_host, f, "c", &f->dev),
                     VMM_ECONFIG);
    assert_non_null(strstr(vmm_error_last()->message, "mmio"));
}

/* ---- output ---- */

static void test_output_callback(void **st)
{
    struct fx *f = *st;
    con_start(f, true);
    assert_int_equal(vmm_virtio_console_set_output(f->dev, out_cb, &out), 0);
    /* One chain of two buffers. */
    memcpy(at(f, TXBUF, 7), "hello, ", 7);
    memcpy(at(f, TXBUF + 0x100, 5), "world", 5);
    const struct seg s[] = {{TXBUF, 7, 0}, {TXBUF + 0x100, 5, 0}};
    q_chain(f, &txq, 0, s, 2);
    q_publish(f, &txq, 0);
    notify(f, 1);
    uint32_t id, len;
    assert_true(q_take(f, &txq, &id, &len));
    assert_int_equal(id, 0);
    assert_int_equal(len, 0); /* nothing written into a transmit chain */
    assert_int_equal(out.len, 12);
    assert_memory_equal(out.data, "hello, world", 12);
    assert_true(r32(f, R_ISR) & ISR_USED);
    assert_int_equal(f->level[IRQ], 1);
    w32(f, R_ISR_ACK, ISR_USED);
    assert_int_equal(f->level[IRQ], 0);

    /* Three chains, one notification: all served, in order; one larger than
     * the bounce buffer. */
    out.len = 0;
    fill(f, TXBUF, 200000, 7);
    const struct seg a = {TXBUF, 100, 0}, b = {TXBUF + 100, 199800, 0},
                     c = {TXBUF + 199900, 100, 0};
    q_chain(f, &txq, 1, &a, 1);
    q_chain(f, &txq, 2, &b, 1);
    q_chain(f, &txq, 3, &c, 1);
    q_publish(f, &txq, 1);
    q_publish(f, &txq, 2);
    q_publish(f, &txq, 3);
    notify(f, 1);
    for (uint32_t want = 1; want <= 3; want++) {
        assert_true(q_take(f, &txq, &id, &len));
        assert_int_equal(id, want);
    }
    assert_int_equal(out.len, 200000);
    assert_true(is_fill(out.data, 200000, 7));

    /* Without a callback the output is dropped, the chains still returned. */
    assert_int_equal(vmm_virtio_console_set_output(f->dev, NULL, NULL), 0);
    out.len = 0;
    q_chain(f, &txq, 4, &a, 1);
    q_publish(f, &txq, 4);
    notify(f, 1);
    assert_true(q_take(f, &txq, &id, &len));
    assert_int_equal(id, 4);
    assert_int_equal(out.len, 0);

    /* A zero-length transmit chain outputs nothing and is handed back. */
    assert_int_equal(vmm_virtio_console_set_output(f->dev, out_cb, &out), 0);
    const struct seg z = {TXBUF, 0, 0};
    q_chain(f, &txq, 5, &z, 1);
    q_publish(f, &txq, 5);
    notify(f, 1);
    assert_true(q_take(f, &txq, &id, &len));
    assert_int_equal(id, 5);
    assert_int_equal(out.len, 0);
    assert_false(r32(f, R_STATUS) & S_NEEDS_RESET);
}

/* Drain what a non-blocking read end holds into buf; the bytes read. */
static size_t drain(int fd, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t k = read(fd, buf + n, cap - n);
        if (k <= 0)
            return n;
        n += (size_t)k;
    }
}

/* Output to a pipe: small output arrives at once; output larger than the
 * pipe holds stays with the device (the chain is not returned) until the
 * test drains the pipe, then the I/O thread finishes it. */
static void output_pipe(struct fx *f, bool nonblocking_writer)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    if (nonblocking_writer)
        assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    int cap = fcntl(p[1], F_SETPIPE_SZ, 65536);
    assert_true(cap >= 4096);
    char extra[64];
    snprintf(extra, sizeof extra, ", \"backend\": \"fd\", \"out_fd\": %d", p[1]);
    assert_int_equal(attach_con(f, extra), 0);
    con_start(f, true);
    assert_int_equal(vmm_virtio_console_set_output(f->dev, out_cb, &out), VMM_ESTATE);

    memcpy(at(f, TXBUF, 5), "abcde", 5);
    const struct seg s1 = {TXBUF, 5, 0};
    q_chain(f, &txq, 0, &s1, 1);
    q_publish(f, &txq, 0);
    notify(f, 1);
    uint32_t id, len;
    assert_true(q_take(f, &txq, &id, &len));
    assert_int_equal(len, 0);
    uint8_t got[8];
    assert_int_equal(read(p[0], got, sizeof got), 5);
    assert_memory_equal(got, "abcde", 5);

    /* 4 pipes' worth in two chains. */
    size_t total = 4 * (size_t)cap, half = total / 2;
    fill(f, TXBUF, total, 3);
    const struct seg c1 = {TXBUF, (uint32_t)half, 0}, c2 = {TXBUF + half, (uint32_t)half, 0};
    q_chain(f, &txq, 1, &c1, 1);
    q_chain(f, &txq, 2, &c2, 1);
    q_publish(f, &txq, 1);
    q_publish(f, &txq, 2);
    notify(f, 1);
    /* The pipe is full and the first chain is held. */
    assert_false(q_take(f, &txq, &id, &len));
    assert_false(r32(f, R_STATUS) & S_NEEDS_RESET);
    uint8_t *buf = malloc(total);
    assert_non_null(buf);
    size_t n = 0;
    unsigned int returned = 0;
    for (int i = 0; i < 20000 && (n < total || returned < 2); i++) {
        n += drain(p[0], buf + n, total - n);
        while (q_take(f, &txq, &id, &len)) {
            assert_int_equal(id, 1 + returned);
            returned++;
        }
        if (n < total || returned < 2)
            usleep(500);
    }
    assert_int_equal(n, total);
    assert_int_equal(returned, 2);
    assert_true(is_fill(buf, total, 3));
    assert_true(r32(f, R_ISR) & ISR_USED);
    free(buf);

    /* Emergency write goes to the same descriptor. */
    uint32_t e = 'E';
    w32(f, R_CONFIG + 8, e);
    assert_int_equal(read(p[0], got, sizeof got), 1);
    assert_int_equal(got[0], 'E');

    /* A reader gone: no SIGPIPE kills the process, the chain comes back. */
    close(p[0]);
    q_chain(f, &txq, 3, &s1, 1);
    q_publish(f, &txq, 3);
    notify(f, 1);
    assert_true(q_wait(f, &txq, &id, &len));
    assert_int_equal(id, 3);
    sigset_t pend;
    assert_int_equal(sigpending(&pend), 0);
    assert_false(sigismember(&pend, SIGPIPE));
    assert_false(r32(f, R_STATUS) & S_NEEDS_RESET);
    vmm__device_free(f->dev);
    f->dev = NULL;
    close(p[1]);
}

static void test_output_pipe_nonblocking(void **st)
{
    output_pipe(*st, true);
}

static void test_output_pipe_blocking(void **st)
{
    output_pipe(*st, false);
}

/* A live console whose out_fd is the write end of a new non-blocking pipe
 * p (p[0] its read end): the pipe's capacity. */
static int pipe_console(struct fx *f, int p[2])
{
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    int cap = fcntl(p[1], F_SETPIPE_SZ, 65536);
    assert_true(cap >= 4096);
    char extra[64];
    snprintf(extra, sizeof extra, ", \"backend\": \"fd\", \"out_fd\": %d", p[1]);
    assert_int_equal(attach_con(f, extra), 0);
    con_start(f, true);
    return cap;
}

/* A device reset while a chain is held: the I/O thread must not finish it
 * into the old rings after the reset. */
static void test_reset_while_held(void **st)
{
    struct fx *f = *st;
    int p[2];
    int cap = pipe_console(f, p);
    fill(f, TXBUF, 2 * (size_t)cap, 9);
    const struct seg big = {TXBUF, 2u * (uint32_t)cap, 0};
    q_chain(f, &txq, 0, &big, 1);
    q_publish(f, &txq, 0);
    notify(f, 1);
    uint32_t id, len;
    assert_false(q_take(f, &txq, &id, &len));
    w32(f, R_STATUS, 0);
    /* Make room: nothing may come back into the old used ring. */
    static uint8_t sink[1 << 18];
    size_t n = drain(p[0], sink, sizeof sink);
    assert_int_equal(n, (size_t)cap);
    usleep(20000);
    assert_int_equal(q_used_idx(f, &txq), 0);
    assert_int_equal(drain(p[0], sink, sizeof sink), 0);
    /* And the device works after a new set-up. */
    con_start(f, true);
    memcpy(at(f, TXBUF, 3), "new", 3);
    const struct seg s1 = {TXBUF, 3, 0};
    q_chain(f, &txq, 0, &s1, 1);
    q_publish(f, &txq, 0);
    notify(f, 1);
    assert_true(q_take(f, &txq, &id, &len));
    assert_int_equal(drain(p[0], sink, sizeof sink), 3);
    assert_memory_equal(sink, "new", 3);
    vmm__device_free(f->dev);
    f->dev = NULL;
    close(p[0]);
    close(p[1]);
}

/* A snapshot while a transmit chain is held half written: after a restore
 * the device takes the chain again and writes only what had not gone out
 * before the snapshot, and returns it once. */
static void test_snapshot_while_held(void **st)
{
    struct fx *f = *st;
    int p[2];
    int cap = pipe_console(f, p);
    size_t total = 2 * (size_t)cap;
    fill(f, TXBUF, total, 5);
    const struct seg big = {TXBUF, (uint32_t)total, 0};
    q_chain(f, &txq, 0, &big, 1);
    q_publish(f, &txq, 0);
    notify(f, 1);
    uint32_t id, len;
    assert_false(q_take(f, &txq, &id, &len)); /* held: the pipe took cap bytes */

    size_t n;
    assert_int_equal(vmm_device_save(f->dev, NULL, 0, &n), 0);
    uint8_t *blob = malloc(n), *ram = malloc(RAM_SIZE);
    static uint8_t sink[1 << 18];
    assert_non_null(blob);
    assert_non_null(ram);
    vmm__device_lock(f->dev);
    assert_int_equal(vmm__device_save_locked(f->dev, blob, n, &n), 0);
    memcpy(ram, f->ram, RAM_SIZE);
    vmm__device_unlock(f->dev);
    struct qs saved = txq;

    /* Time goes on: the rest is written and the chain comes back. */
    size_t got = 0;
    for (int i = 0; i < 20000 && (got < total || q_used_idx(f, &txq) == 0); i++) {
        got += drain(p[0], sink + got, sizeof sink - got);
        usleep(500);
    }
    assert_int_equal(got, total);
    assert_true(q_take(f, &txq, &id, &len));

    /* Back to the snapshot: only the second half is written again. */
    vmm__device_lock(f->dev);
    memcpy(f->ram, ram, RAM_SIZE);
    vmm__device_unlock(f->dev);
    txq = saved;
    assert_int_equal(vmm_device_load(f->dev, blob, n), 0);
    got = 0;
    for (int i = 0; i < 20000 && (got < (size_t)cap || q_used_idx(f, &txq) == 0); i++) {
        got += drain(p[0], sink + got, sizeof sink - got);
        usleep(500);
    }
    assert_int_equal(got, (size_t)cap);
    assert_memory_equal(sink, at(f, TXBUF + (size_t)cap, (size_t)cap), (size_t)cap);
    assert_true(q_take(f, &txq, &id, &len));
    assert_int_equal(id, 0);
    assert_int_equal(q_used_idx(f, &txq), 1);
    usleep(20000);
    assert_int_equal(drain(p[0], sink, sizeof sink), 0);
    assert_false(r32(f, R_STATUS) & S_NEEDS_RESET);
    free(blob);
    free(ram);
    vmm__device_free(f->dev);
    f->dev = NULL;
    close(p[0]);
    close(p[1]);
}

static void test_emergency_write(void **st)
{
    struct fx *f = *st;
    assert_int_equal(vmm_virtio_console_set_output(f->dev, out_cb, &out), 0);
    /* Before any set-up (§5.3.4 allows it), and with narrower writes. */
    w32(f, R_CONFIG + 8, 'x');
    uint8_t y = 'y';
    assert_int_equal(acc(f, R_CONFIG + 8, &y, 1, true), 0);
    /* Writes elsewhere in config space output nothing. */
    w32(f, R_CONFIG + 4, 'z');
    y = 'z';
    assert_int_equal(acc(f, R_CONFIG + 9, &y, 1, true), 0);
    assert_int_equal(out.len, 2);
    assert_memory_equal(out.data, "xy", 2);
}

/* ---- input ---- */

static void test_input_callback(void **st)
{
    struct fx *f = *st;
    size_t acc_n = 99;
    /* Before DRIVER_OK nothing is taken. */
    assert_int_equal(vmm_virtio_console_input(f->dev, "ab", 2, &acc_n), VMM_ESTATE);
    assert_int_equal(acc_n, 0);
    con_start(f, false);
    const struct seg r0 = {RXBUF, 4, D_WRITE};
    q_chain(f, &rxq, 0, &r0, 1);
    q_publish(f, &rxq, 0);
    notify(f, 0);
    assert_int_equal(vmm_virtio_console_input(f->dev, "ab", 2, &acc_n), VMM_ESTATE);
    assert_int_equal(acc_n, 0);
    w32(f, R_STATUS, S_LIVE);

    /* Buffers of 4 and 3 bytes (the second in two descriptors) take 7 of 10. */
    const struct seg r1[] = {{RXBUF + 0x100, 1, D_WRITE}, {RXBUF + 0x200, 2, D_WRITE}};
    q_chain(f, &rxq, 1, r1, 2);
    q_publish(f, &rxq, 1);
    notify(f, 0);
    assert_int_equal(vmm_virtio_console_input(f->dev, "abcdefghij", 10, &acc_n), 0);
    assert_int_equal(acc_n, 7);
    uint32_t id, len;
    assert_true(q_take(f, &rxq, &id, &len));
    assert_int_equal(id, 0);
    assert_int_equal(len, 4);
    assert_true(q_take(f, &rxq, &id, &len));
    assert_int_equal(id, 1);
    assert_int_equal(len, 3);
    assert_memory_equal(at(f, RXBUF, 4), "abcd", 4);
    assert_memory_equal(at(f, RXBUF + 0x100, 1), "e", 1);
    assert_memory_equal(at(f, RXBUF + 0x200, 2), "fg", 2);
    assert_true(r32(f, R_ISR) & ISR_USED);
    assert_int_equal(f->level[IRQ], 1);

    /* Nothing posted: nothing taken, not an error. */
    assert_int_equal(vmm_virtio_console_input(f->dev, "k", 1, &acc_n), 0);
    assert_int_equal(acc_n, 0);
    assert_int_equal(vmm_virtio_console_input(f->dev, NULL, 0, NULL), 0);
    /* A short input in a large buffer. */
    const struct seg r2 = {RXBUF + 0x300, 64, D_WRITE};
    q_chain(f, &rxq, 2, &r2, 1);
    q_publish(f, &rxq, 2);
    notify(f, 0);
    assert_int_equal(vmm_virtio_console_input(f->dev, "xyz", 3, NULL), 0);
    assert_true(q_take(f, &rxq, &id, &len));
    assert_int_equal(len, 3);
    assert_memory_equal(at(f, RXBUF + 0x300, 3), "xyz", 3);

    /* Argument and type errors. */
    assert_int_equal(vmm_virtio_console_input(NULL, "a", 1, NULL), VMM_EINVAL);
    assert_int_equal(vmm_virtio_console_input(f->dev, NULL, 1, NULL), VMM_EINVAL);
    assert_int_equal(vmm_virtio_console_set_output(NULL, out_cb, NULL), VMM_EINVAL);
    vmm_device *rng;
    assert_int_equal(vmm__device_new("virtio-rng", RNG_CONFIG, &fake_host, f, "rng", &rng), 0);
    assert_int_equal(vmm_virtio_console_input(rng, "a", 1, NULL), VMM_EINVAL);
    assert_int_equal(vmm_virtio_console_set_output(rng, out_cb, NULL), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "virtio-console"));
    vmm__device_free(rng);
    /* After a reset: not ready again. */
    w32(f, R_STATUS, 0);
    assert_int_equal(vmm_virtio_console_input(f->dev, "a", 1, &acc_n), VMM_ESTATE);
}

/* Input from a pipe through the I/O thread. */
static void input_pipe(struct fx *f, bool nonblocking_reader)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    if (nonblocking_reader)
        assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    char extra[64];
    snprintf(extra, sizeof extra, ", \"backend\": \"fd\", \"in_fd\": %d", p[0]);
    assert_int_equal(attach_con(f, extra), 0);
    assert_int_equal(vmm_virtio_console_input(f->dev, "a", 1, NULL), VMM_ESTATE);
    /* Buffers posted (and notified) before DRIVER_OK count from DRIVER_OK. */
    con_start(f, false);
    const struct seg r0 = {RXBUF, 16, D_WRITE};
    q_chain(f, &rxq, 0, &r0, 1);
    q_publish(f, &rxq, 0);
    notify(f, 0);
    assert_int_equal(write(p[1], "ping", 4), 4);
    w32(f, R_STATUS, S_LIVE);
    uint32_t id, len;
    assert_true(q_wait(f, &rxq, &id, &len));
    assert_int_equal(id, 0);
    assert_int_equal(len, 4);
    assert_memory_equal(at(f, RXBUF, 4), "ping", 4);
    assert_true(r32(f, R_ISR) & ISR_USED);

    /* Data with no buffer posted waits in the pipe, then fills small buffers. */
    assert_int_equal(write(p[1], "0123456789", 10), 10);
    usleep(10000);
    assert_false(q_take(f, &rxq, &id, &len));
    const struct seg r1 = {RXBUF + 0x100, 4, D_WRITE}, r2 = {RXBUF + 0x200, 8, D_WRITE};
    q_chain(f, &rxq, 1, &r1, 1);
    q_chain(f, &rxq, 2, &r2, 1);
    q_publish(f, &rxq, 1);
    q_publish(f, &rxq, 2);
    notify(f, 0);
    assert_true(q_wait(f, &rxq, &id, &len));
    assert_int_equal(id, 1);
    assert_int_equal(len, 4);
    assert_true(q_wait(f, &rxq, &id, &len));
    assert_int_equal(id, 2);
    assert_int_equal(len, 6);
    assert_memory_equal(at(f, RXBUF + 0x100, 4), "0123", 4);
    assert_memory_equal(at(f, RXBUF + 0x200, 6), "456789", 6);

    /* End of file: a buffer posted afterwards stays with the driver. */
    close(p[1]);
    const struct seg r3 = {RXBUF + 0x300, 8, D_WRITE};
    q_chain(f, &rxq, 3, &r3, 1);
    q_publish(f, &rxq, 3);
    notify(f, 0);
    usleep(20000);
    assert_false(q_take(f, &rxq, &id, &len));
    assert_false(r32(f, R_STATUS) & S_NEEDS_RESET);
    vmm__device_free(f->dev);
    f->dev = NULL;
    close(p[0]);
}

static void test_input_pipe_nonblocking(void **st)
{
    input_pipe(*st, true);
}

static void test_input_pipe_blocking(void **st)
{
    input_pipe(*st, false);
}

/* stdio: the device attaches and is torn down cleanly (fd 0 and 1 unused
 * while the driver is not live). */
static void test_stdio_backend(void **st)
{
    struct fx *f = *st;
    assert_int_equal(attach_con(f, ", \"backend\": \"stdio\""), 0);
    assert_int_equal(vmm_virtio_console_set_output(f->dev, out_cb, &out), VMM_ESTATE);
    assert_int_equal(vmm_virtio_console_input(f->dev, "a", 1, NULL), VMM_ESTATE);
}

/* ---- hostile drivers ---- */

static void test_hostile_transmit(void **st)
{
    struct fx *f = *st;
    uint32_t id, len;
    /* A device-writable buffer on the transmitq. */
    con_start(f, true);
    assert_int_equal(vmm_virtio_console_set_output(f->dev, out_cb, &out), 0);
    const struct seg w[] = {{TXBUF, 4, 0}, {TXBUF + 0x10, 4, D_WRITE}};
    q_chain(f, &txq, 0, w, 2);
    q_publish(f, &txq, 0);
    notify(f, 1);
    assert_false(q_take(f, &txq, &id, &len));
    expect_con_broken(f);
    assert_int_equal(out.len, 0);
    con_recover(f);

    /* Buffers outside RAM: past it, straddling its end, in the hole. */
    const uint64_t where[][2] = {
        {RAM_SIZE + 0x1000, 16}, {RAM_SIZE - 8, 16}, {HOLE, 16}, {~0ull - 7, 8}};
    for (size_t i = 0; i < VMM__ARRAY_LEN(where); i++) {
        w32(f, R_STATUS, 0);
        con_start(f, true);
        out.len = 0;
        const struct seg s1 = {where[i][0], (uint32_t)where[i][1], 0};
        q_chain(f, &txq, 0, &s1, 1);
        q_publish(f, &txq, 0);
        notify(f, 1);
        assert_false(q_take(f, &txq, &id, &len));
        expect_con_broken(f);
        con_recover(f);
    }

    /* A chain that loops, and an index that jumps past the queue size. */
    w32(f, R_STATUS, 0);
    con_start(f, true);
    desc_at(f, txq.desc, 0, TXBUF, 4, D_NEXT, 1);
    desc_at(f, txq.desc, 1, TXBUF, 4, D_NEXT, 0);
    q_publish(f, &txq, 0);
    notify(f, 1);
    expect_con_broken(f);
    con_recover(f);
    put16(f, txq.avail + 2, (uint16_t)(txq.avail_idx + NUM + 1));
    notify(f, 1);
    expect_con_broken(f);
    con_recover(f);

    /* Notifications on a bad queue index, and before DRIVER_OK: nothing. */
    w32(f, R_STATUS, 0);
    con_start(f, false);
    const struct seg s1 = {TXBUF, 2, 0};
    q_chain(f, &txq, 0, &s1, 1);
    q_publish(f, &txq, 0);
    notify(f, 1);
    notify(f, 7);
    notify(f, 0xffffffff);
    assert_int_equal(q_used_idx(f, &txq), 0);
    assert_false(r32(f, R_STATUS) & S_NEEDS_RESET);
}

static void test_hostile_receive(void **st)
{
    struct fx *f = *st;
    size_t n = 99;
    uint32_t id, len;
    /* A device-readable buffer on the receiveq. */
    con_start(f, true);
    const struct seg r[] = {{RXBUF, 4, 0}, {RXBUF + 0x10, 4, D_WRITE}};
    q_chain(f, &rxq, 0, r, 2);
    q_publish(f, &rxq, 0);
    notify(f, 0);
    assert_int_equal(vmm_virtio_console_input(f->dev, "abc", 3, &n), VMM_ESTATE);
    assert_int_equal(n, 0);
    expect_con_broken(f);
    assert_int_equal(vmm_virtio_console_input(f->dev, "abc", 3, &n), VMM_ESTATE);
    con_recover(f);

    /* A receive chain that holds nothing (a zero-length buffer). */
    w32(f, R_STATUS, 0);
    con_start(f, true);
    const struct seg z = {RXBUF, 0, D_WRITE};
    q_chain(f, &rxq, 0, &z, 1);
    q_publish(f, &rxq, 0);
    assert_int_equal(vmm_virtio_console_input(f->dev, "abc", 3, &n), VMM_ESTATE);
    expect_con_broken(f);
    con_recover(f);

    /* A receive buffer outside RAM, after one good one: the good one counts. */
    w32(f, R_STATUS, 0);
    con_start(f, true);
    const struct seg good = {RXBUF, 2, D_WRITE}, bad = {RAM_SIZE - 1, 2, D_WRITE};
    q_chain(f, &rxq, 0, &good, 1);
    q_chain(f, &rxq, 1, &bad, 1);
    q_publish(f, &rxq, 0);
    q_publish(f, &rxq, 1);
    assert_int_equal(vmm_virtio_console_input(f->dev, "abcd", 4, &n), VMM_ESTATE);
    assert_int_equal(n, 2);
    assert_true(q_take(f, &rxq, &id, &len));
    assert_int_equal(len, 2);
    assert_memory_equal(at(f, RXBUF, 2), "ab", 2);
    expect_con_broken(f);
    con_recover(f);

    /* The same through the I/O thread: a readable buffer on the receiveq. */
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    char extra[64];
    snprintf(extra, sizeof extra, ", \"backend\": \"fd\", \"in_fd\": %d", p[0]);
    assert_int_equal(attach_con(f, extra), 0);
    con_start(f, true);
    assert_int_equal(write(p[1], "data", 4), 4);
    q_chain(f, &rxq, 0, r, 2);
    q_publish(f, &rxq, 0);
    notify(f, 0);
    status_wait(f, S_NEEDS_RESET);
    assert_true(r32(f, R_STATUS) & S_NEEDS_RESET);
    assert_false(q_take(f, &rxq, &id, &len));
    /* A reset with data still in the pipe and no buffers: nothing happens
     * until the driver posts buffers again, which then get the data. */
    w32(f, R_STATUS, 0);
    con_start(f, true);
    const struct seg r1 = {RXBUF + 0x100, 8, D_WRITE};
    q_chain(f, &rxq, 0, &r1, 1);
    q_publish(f, &rxq, 0);
    notify(f, 0);
    assert_true(q_wait(f, &rxq, &id, &len));
    assert_int_equal(len, 4);
    assert_memory_equal(at(f, RXBUF + 0x100, 4), "data", 4);
    vmm__device_free(f->dev);
    f->dev = NULL;
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    vmm_log_set(count_log, NULL, VMM_LOG_WARN);
#define CON_T(name) cmocka_unit_test_setup_teardown(name, setup_con, teardown)
    const struct CMUnitTest tests[] = {
        CON_T(test_identity_and_config),  CON_T(test_bad_configs),
        CON_T(test_output_callback),      CON_T(test_output_pipe_nonblocking),
        CON_T(test_output_pipe_blocking), CON_T(test_reset_while_held),
        CON_T(test_snapshot_while_held),  CON_T(test_emergency_write),
        CON_T(test_input_callback),       CON_T(test_input_pipe_nonblocking),
        CON_T(test_input_pipe_blocking),  CON_T(test_stdio_backend),
        CON_T(test_hostile_transmit),     CON_T(test_hostile_receive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
