/* SPDX-License-Identifier: MIT */
/* The driver side of the virtio unit tests: a fake host (RAM at GPA 0 with a
 * hole, interrupt levels, claims), register and ring helpers, and the
 * expected outcomes, shared by test_virtio.c and test_virtio_blk.c. */
#ifndef LIBVMM_TEST_VIRTIO_DRIVER_H
#define LIBVMM_TEST_VIRTIO_DRIVER_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"
/* ---- virtio 1.2 as the driver sees it ---- */

/* virtio-mmio registers (§4.2.2). */
enum {
    R_MAGIC = 0x000,
    R_VERSION = 0x004,
    R_DEVICE_ID = 0x008,
    R_VENDOR_ID = 0x00c,
    R_DEV_FEAT = 0x010,
    R_DEV_FEAT_SEL = 0x014,
    R_DRV_FEAT = 0x020,
    R_DRV_FEAT_SEL = 0x024,
    R_QUEUE_SEL = 0x030,
    R_QUEUE_NUM_MAX = 0x034,
    R_QUEUE_NUM = 0x038,
    R_QUEUE_READY = 0x044,
    R_QUEUE_NOTIFY = 0x050,
    R_ISR = 0x060,
    R_ISR_ACK = 0x064,
    R_STATUS = 0x070,
    R_DESC_LO = 0x080,
    R_DESC_HI = 0x084,
    R_AVAIL_LO = 0x090,
    R_AVAIL_HI = 0x094,
    R_USED_LO = 0x0a0,
    R_USED_HI = 0x0a4,
    R_CONFIG_GEN = 0x0fc,
    R_CONFIG = 0x100,
};
#define MAGIC 0x74726976u

#define S_ACK         1u
#define S_DRIVER      2u
#define S_DRIVER_OK   4u
#define S_FEATURES_OK 8u
#define S_NEEDS_RESET 64u
#define S_LIVE        (S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK)

#define ISR_USED   1u
#define ISR_CONFIG 2u

#define F_INDIRECT        (1ull << 28)
#define F_VERSION_1       (1ull << 32)
#define BLK_F_RO          (1ull << 5)
#define BLK_F_BLK_SIZE    (1ull << 6)
#define BLK_F_FLUSH       (1ull << 9)
#define BLK_F_DISCARD     (1ull << 13)
#define BLK_F_WRITE_ZEROS (1ull << 14)

#define D_NEXT     1
#define D_WRITE    2
#define D_INDIRECT 4

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11, T_WRITE_ZEROES = 13 };
enum { BLK_OK = 0, BLK_IOERR = 1, BLK_UNSUPP = 2 };

/* ---- guest memory layout ---- */

#define RAM_SIZE 0x100000ull
/* A page the fake host refuses, as an MMIO window inside RAM would leave. */
#define HOLE      0xe0000ull
#define HOLE_SIZE 0x1000ull
#define DESC      0x10000ull /* room for 1024 descriptors */
#define AVAIL     0x14000ull
#define USED      0x15000ull
#define ITABLE    0x18000ull /* indirect tables */
#define ALT       0x30000ull /* a second set of rings */
#define DATA      0x40000ull /* buffers */
#define HDR       DATA       /* virtio-blk request header */
#define STAT      (DATA + 0x10)
#define BUF       (DATA + 0x1000)
#define MMIO_BASE 0x10000000ull
#define IRQ       5
#define NUM       8 /* queue size most tests use */

#define DISK_SIZE (1u << 20)
#define SECTORS   (DISK_SIZE / 512)

#define RNG_CONFIG "{\"mmio\": 268435456, \"irq\": 5}"

/* ---- log capture ---- */

static struct {
    unsigned int warnings;
    char component[32];
} logs;

static inline void count_log(void *opaque, vmm_log_level level, const char *component,
                             const char *msg)
{
    (void)opaque;
    (void)msg;
    if (level >= VMM_LOG_WARN) {
        logs.warnings++;
        snprintf(logs.component, sizeof logs.component, "%s", component);
    }
}

/* ---- fake host: RAM at GPA 0 with a hole, interrupt levels, claims ---- */

enum kind { RNG, BLK };

struct fx {
    enum kind kind;
    uint8_t *ram;
    vmm_device *dev;
    bool has_irq;
    int level[24]; /* -1 until the line is first driven */
    unsigned int irq_calls, nclaims, releases;
    vmm_space space;
    uint64_t base, len;
    /* the driver's view of queue 0 */
    uint64_t offered, features;
    uint16_t num;
    uint64_t desc, avail, used;
    uint16_t avail_idx, used_seen;
    char disk[64];
    /* Rewrite guest memory right after the device first reads gpa, as a
     * driver on another vCPU could (checks that fields are read once). */
    struct {
        bool armed;
        uint64_t gpa;
        uint8_t bytes[16];
        size_t len;
    } trap;
};

static inline bool is_ram(uint64_t gpa, size_t len)
{
    if (gpa > RAM_SIZE || len > RAM_SIZE - gpa)
        return false;
    return gpa + len <= HOLE || gpa >= HOLE + HOLE_SIZE;
}

static inline int h_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    struct fx *f = ctx;
    if (!is_ram(gpa, len))
        return vmm__err(VMM_EFAULT, "0x%llx+0x%zx is not RAM", (unsigned long long)gpa, len);
    memcpy(buf, f->ram + gpa, len);
    if (f->trap.armed && f->trap.gpa >= gpa && f->trap.gpa - gpa < len) {
        f->trap.armed = false;
        memcpy(f->ram + f->trap.gpa, f->trap.bytes, f->trap.len);
    }
    return 0;
}

static inline int h_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    struct fx *f = ctx;
    if (!is_ram(gpa, len))
        return vmm__err(VMM_EFAULT, "0x%llx+0x%zx is not RAM", (unsigned long long)gpa, len);
    memcpy(f->ram + gpa, buf, len);
    return 0;
}

static inline int h_set_irq(void *ctx, unsigned int line, int level)
{
    struct fx *f = ctx;
    if (line < 24)
        f->level[line] = level;
    f->irq_calls++;
    return 0;
}

static inline int h_claim(void *ctx, vmm_device *dev, vmm_space space, uint64_t base, uint64_t len,
                          unsigned int index)
{
    struct fx *f = ctx;
    (void)dev;
    (void)index;
    f->nclaims++;
    f->space = space;
    f->base = base;
    f->len = len;
    return 0;
}

static inline void h_release(void *ctx, vmm_device *dev)
{
    struct fx *f = ctx;
    (void)dev;
    f->releases++;
}

static const struct vmm__devhost fake_host = {.mem_read = h_read,
                                              .mem_write = h_write,
                                              .set_irq = h_set_irq,
                                              .claim = h_claim,
                                              .release = h_release};

static inline uint8_t *at(struct fx *f, uint64_t gpa, size_t len)
{
    assert_true(gpa <= RAM_SIZE && len <= RAM_SIZE - gpa);
    return f->ram + gpa;
}

static inline void put16(struct fx *f, uint64_t gpa, uint16_t v)
{
    memcpy(at(f, gpa, 2), &v, 2);
}

static inline uint16_t get16(struct fx *f, uint64_t gpa)
{
    uint16_t v;
    memcpy(&v, at(f, gpa, 2), 2);
    return v;
}

static inline uint32_t get32(struct fx *f, uint64_t gpa)
{
    uint32_t v;
    memcpy(&v, at(f, gpa, 4), 4);
    return v;
}

static inline bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

/* The disk image's initial content; the sector number is mixed in so that a
 * read from the wrong sector shows. */
static inline uint8_t pat(uint64_t off)
{
    return (uint8_t)(off * 13 + (off >> 9) * 101 + 7);
}

static inline bool matches_pat(const uint8_t *p, uint64_t off, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(off + i))
            return false;
    return true;
}

static inline void read_disk(struct fx *f, uint64_t off, void *buf, size_t n)
{
    int fd = open(f->disk, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, n, (off_t)off), (ssize_t)n);
    close(fd);
}

/* Whether the disk still holds the initial pattern over [off, off+n). */
static inline bool disk_pristine(struct fx *f, uint64_t off, size_t n)
{
    uint8_t *b = malloc(n);
    assert_non_null(b);
    read_disk(f, off, b, n);
    bool ok = matches_pat(b, off, n);
    free(b);
    return ok;
}

static inline int attach(struct fx *f, enum kind kind, const char *config)
{
    vmm__device_free(f->dev);
    f->dev = NULL;
    f->kind = kind;
    f->has_irq = config && strstr(config, "\"irq\"");
    f->irq_calls = f->nclaims = f->releases = 0;
    for (int i = 0; i < 24; i++)
        f->level[i] = -1;
    return vmm__device_new(kind == RNG ? "virtio-rng" : "virtio-blk", config, &fake_host, f,
                           kind == RNG ? "rng0" : "disk0", &f->dev);
}

/* A virtio-blk device over the test's disk; extra is more JSON members. */
static inline int attach_blk(struct fx *f, const char *extra)
{
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"mmio\": %llu, \"irq\": %d, \"path\": \"%s\"%s}",
             (unsigned long long)MMIO_BASE, IRQ, f->disk, extra);
    return attach(f, BLK, cfg);
}

static inline int make_disk(struct fx *f)
{
    snprintf(f->disk, sizeof f->disk, "/tmp/test_virtio.XXXXXX");
    int fd = mkstemp(f->disk);
    if (fd < 0)
        return -1;
    uint8_t *b = malloc(DISK_SIZE);
    if (!b) {
        close(fd);
        return -1;
    }
    for (uint64_t i = 0; i < DISK_SIZE; i++)
        b[i] = pat(i);
    ssize_t n = write(fd, b, DISK_SIZE);
    free(b);
    close(fd);
    return n == DISK_SIZE ? 0 : -1;
}

static inline struct fx *fx_new(void)
{
    /* A device that loops forever would stall the whole suite: fail instead. */
    alarm(60);
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->ram = calloc(1, RAM_SIZE);
    if (!f->ram) {
        free(f);
        return NULL;
    }
    return f;
}

static inline int teardown(void **st)
{
    struct fx *f = *st;
    vmm__device_free(f->dev);
    if (f->disk[0])
        unlink(f->disk);
    free(f->ram);
    free(f);
    alarm(0);
    return 0;
}

static inline int setup_rng(void **st)
{
    struct fx *f = fx_new();
    if (!f)
        return -1;
    *st = f;
    if (attach(f, RNG, RNG_CONFIG) < 0) {
        teardown(st);
        return -1;
    }
    return 0;
}

static inline int setup_blk(void **st)
{
    struct fx *f = fx_new();
    if (!f)
        return -1;
    *st = f;
    if (make_disk(f) < 0 || attach_blk(f, "") < 0) {
        teardown(st);
        return -1;
    }
    return 0;
}

/* A disk and RAM, no device yet. */
static inline int setup_bare(void **st)
{
    struct fx *f = fx_new();
    if (!f)
        return -1;
    *st = f;
    if (make_disk(f) < 0) {
        teardown(st);
        return -1;
    }
    return 0;
}

/* ---- driver side: registers ---- */

static inline int acc(struct fx *f, uint64_t off, void *data, unsigned int size, bool write)
{
    return vmm__device_access(f->dev, 0, off, data, size, write);
}

static inline uint32_t r32(struct fx *f, uint64_t off)
{
    uint32_t v = 0x5a5a5a5a;
    assert_int_equal(acc(f, off, &v, 4, false), 0);
    return v;
}

static inline void w32(struct fx *f, uint64_t off, uint32_t v)
{
    assert_int_equal(acc(f, off, &v, 4, true), 0);
}

/* A write the device may refuse; what it did is checked by reading back. */
static inline void poke(struct fx *f, uint64_t off, uint32_t v)
{
    (void)acc(f, off, &v, 4, true);
}

/* A read whose result must be a fixed value; the fill shows a device that
 * left the buffer alone. */
static inline uint64_t peek(struct fx *f, uint64_t off, unsigned int size)
{
    uint64_t v;
    memset(&v, 0x5a, sizeof v);
    (void)acc(f, off, &v, size, false);
    if (size < 8)
        v &= (1ull << (8 * size)) - 1;
    return v;
}

static inline bool zero_or_ones(uint64_t v, unsigned int size)
{
    uint64_t ones = size < 8 ? (1ull << (8 * size)) - 1 : ~0ull;
    return v == 0 || v == ones;
}

static inline uint64_t dev_features(struct fx *f)
{
    w32(f, R_DEV_FEAT_SEL, 0);
    uint64_t lo = r32(f, R_DEV_FEAT);
    w32(f, R_DEV_FEAT_SEL, 1);
    uint64_t hi = r32(f, R_DEV_FEAT);
    return lo | hi << 32;
}

static inline void set_drv_features(struct fx *f, uint64_t v)
{
    w32(f, R_DRV_FEAT_SEL, 0);
    poke(f, R_DRV_FEAT, (uint32_t)v);
    w32(f, R_DRV_FEAT_SEL, 1);
    poke(f, R_DRV_FEAT, (uint32_t)(v >> 32));
}

/* Reset, then §3.1.1 up to FEATURES_OK with want (cut to what is offered
 * unless raw); the Status read back. */
static inline uint32_t negotiate_raw(struct fx *f, uint64_t want, bool raw)
{
    w32(f, R_STATUS, 0);
    assert_int_equal(r32(f, R_STATUS), 0);
    w32(f, R_STATUS, S_ACK);
    w32(f, R_STATUS, S_ACK | S_DRIVER);
    f->offered = dev_features(f);
    f->features = raw ? want : want & f->offered;
    set_drv_features(f, f->features);
    w32(f, R_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
    return r32(f, R_STATUS);
}

static inline uint32_t negotiate(struct fx *f, uint64_t want)
{
    return negotiate_raw(f, want, false);
}

/* Program queue q and ask for QueueReady; what QueueReady reads back. */
static inline uint32_t queue_try(struct fx *f, uint32_t q, uint32_t num, uint64_t desc,
                                 uint64_t avail, uint64_t used)
{
    w32(f, R_QUEUE_SEL, q);
    poke(f, R_QUEUE_NUM, num);
    poke(f, R_DESC_LO, (uint32_t)desc);
    poke(f, R_DESC_HI, (uint32_t)(desc >> 32));
    poke(f, R_AVAIL_LO, (uint32_t)avail);
    poke(f, R_AVAIL_HI, (uint32_t)(avail >> 32));
    poke(f, R_USED_LO, (uint32_t)used);
    poke(f, R_USED_HI, (uint32_t)(used >> 32));
    poke(f, R_QUEUE_READY, 1);
    return r32(f, R_QUEUE_READY);
}

/* The driver's shadow of queue 0 at the usual rings, which start empty. */
static inline void rings_at(struct fx *f, uint16_t num, uint64_t desc, uint64_t avail,
                            uint64_t used)
{
    memset(at(f, desc, 16ull * num), 0, 16ull * num);
    memset(at(f, avail, 6ull + 2ull * num), 0, 6ull + 2ull * num);
    memset(at(f, used, 6ull + 8ull * num), 0, 6ull + 8ull * num);
    f->num = num;
    f->desc = desc;
    f->avail = avail;
    f->used = used;
    f->avail_idx = f->used_seen = 0;
}

static inline void queue_setup(struct fx *f, uint16_t num)
{
    rings_at(f, num, DESC, AVAIL, USED);
    w32(f, R_QUEUE_SEL, 0);
    assert_int_equal(r32(f, R_QUEUE_READY), 0);
    assert_true(num <= r32(f, R_QUEUE_NUM_MAX));
    assert_int_equal(queue_try(f, 0, num, DESC, AVAIL, USED), 1);
}

static inline void start(struct fx *f, uint64_t want, uint16_t num)
{
    assert_true(negotiate(f, want) & S_FEATURES_OK);
    queue_setup(f, num);
    w32(f, R_STATUS, S_LIVE);
    assert_int_equal(r32(f, R_STATUS), S_LIVE);
}

static inline uint64_t default_want(const struct fx *f)
{
    return F_VERSION_1 | (f->kind == BLK ? BLK_F_RO | BLK_F_FLUSH : 0);
}

static inline void start_default(struct fx *f)
{
    start(f, default_want(f), NUM);
}

/* ---- driver side: rings ---- */

static inline void desc_at(struct fx *f, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                           uint16_t flags, uint16_t next)
{
    uint8_t *p = at(f, table + 16ull * i, 16);
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

static inline void desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                        uint16_t next)
{
    desc_at(f, f->desc, i, addr, len, flags, next);
}

struct seg {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
};

/* Lay segs out as one chain in entries first, first+1, ... of table. */
static inline void chain_at(struct fx *f, uint64_t table, uint16_t first, const struct seg *s,
                            unsigned int n)
{
    for (unsigned int i = 0; i < n; i++) {
        bool more = i + 1 < n;
        desc_at(f, table, (uint16_t)(first + i), s[i].addr, s[i].len,
                (uint16_t)(s[i].flags | (more ? D_NEXT : 0)), more ? (uint16_t)(first + i + 1) : 0);
    }
}

static inline void publish(struct fx *f, uint16_t head)
{
    put16(f, f->avail + 4 + 2ull * (f->avail_idx % f->num), head);
    f->avail_idx++;
    put16(f, f->avail + 2, f->avail_idx);
}

static inline void notify(struct fx *f, uint32_t q)
{
    poke(f, R_QUEUE_NOTIFY, q);
}

static inline uint16_t used_idx(struct fx *f)
{
    return get16(f, f->used + 2);
}

static inline bool take_used(struct fx *f, uint32_t *id, uint32_t *len)
{
    if (used_idx(f) == f->used_seen)
        return false;
    uint64_t e = f->used + 4 + 8ull * (f->used_seen % f->num);
    *id = get32(f, e);
    *len = get32(f, e + 4);
    f->used_seen++;
    return true;
}

/* Publish head, notify queue 0 and take its used entry: the used length, or
 * -1 if the device returned nothing. */
static inline long submit(struct fx *f, uint16_t head)
{
    publish(f, head);
    notify(f, 0);
    uint32_t id, len;
    if (!take_used(f, &id, &len))
        return -1;
    assert_int_equal(id, head);
    assert_int_equal(used_idx(f), f->used_seen); /* exactly one */
    return (long)len;
}

/* A virtio-rng request: one device-writable buffer. */
static inline long rng_get(struct fx *f, uint64_t addr, uint32_t len)
{
    desc(f, 0, addr, len, D_WRITE, 0);
    return submit(f, 0);
}

/* A virtio-blk request as header | data | status in descriptors 0..2 (no
 * data when len is 0): the status byte (0xff if the device left it), or -1
 * if nothing came back. */
static inline int blk_req(struct fx *f, uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
                          uint16_t dflags, uint32_t *used_len)
{
    const uint32_t hdr[4] = {type, 0, (uint32_t)sector, (uint32_t)(sector >> 32)};
    memcpy(at(f, HDR, 16), hdr, 16);
    *at(f, STAT, 1) = 0xff;
    struct seg s[3];
    unsigned int n = 0;
    s[n++] = (struct seg){HDR, 16, 0};
    if (len)
        s[n++] = (struct seg){data, len, dflags};
    s[n++] = (struct seg){STAT, 1, D_WRITE};
    chain_at(f, f->desc, 0, s, n);
    long got = submit(f, 0);
    if (got < 0)
        return -1;
    if (used_len)
        *used_len = (uint32_t)got;
    return *at(f, STAT, 1);
}

/* ---- expected outcomes ---- */

/* The device serves queue 0 correctly. Sector 3 is never written by any test. */
static inline void expect_serves(struct fx *f)
{
    if (f->kind == RNG) {
        memset(at(f, DATA, 64), 0, 64);
        assert_int_equal(rng_get(f, DATA, 64), 64);
        assert_false(all_bytes(at(f, DATA, 64), 64, 0));
    } else {
        uint32_t ul = 0;
        memset(at(f, BUF, 512), 0, 512);
        assert_int_equal(blk_req(f, T_IN, 3, BUF, 512, D_WRITE, &ul), BLK_OK);
        assert_int_equal(ul, 513);
        assert_true(matches_pat(at(f, BUF, 512), 3 * 512, 512));
    }
    assert_false(r32(f, R_STATUS) & S_NEEDS_RESET);
}

/* The driver broke the protocol: NEEDS_RESET, announced if the driver was
 * live (§2.1.2), and nothing served until a reset. */
static inline void expect_broken(struct fx *f)
{
    uint32_t s = r32(f, R_STATUS);
    assert_true(s & S_NEEDS_RESET);
    if (s & S_DRIVER_OK) {
        assert_true(r32(f, R_ISR) & ISR_CONFIG);
        if (f->has_irq)
            assert_int_equal(f->level[IRQ], 1);
    }
    uint16_t before = used_idx(f);
    uint16_t d = (uint16_t)(f->num - 1);
    desc(f, d, DATA + 0x8000, 16, D_WRITE, 0);
    publish(f, d);
    notify(f, 0);
    assert_int_equal(used_idx(f), before);
}

/* A reset clears everything (§4.2.2.1) and a fresh set-up works again. */
static inline void recover(struct fx *f)
{
    w32(f, R_STATUS, 0);
    assert_int_equal(r32(f, R_STATUS), 0);
    assert_int_equal(r32(f, R_ISR), 0);
    if (f->has_irq)
        assert_int_not_equal(f->level[IRQ], 1);
    start_default(f);
    expect_serves(f);
}

/* A chain the device cannot use: it either stops (NEEDS_RESET) or hands the
 * chain back with nothing written; never drops it silently. */
static inline void expect_refused(struct fx *f, long got)
{
    if (r32(f, R_STATUS) & S_NEEDS_RESET)
        expect_broken(f);
    else
        assert_int_equal(got, 0);
    recover(f);
}

/* A bad virtio-blk request: an error status, or NEEDS_RESET. */
static inline void expect_blk_error(struct fx *f, int st)
{
    if (r32(f, R_STATUS) & S_NEEDS_RESET)
        expect_broken(f);
    else
        assert_true(st == BLK_IOERR || st == BLK_UNSUPP);
    recover(f);
}

#endif
