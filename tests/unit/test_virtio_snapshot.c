/* SPDX-License-Identifier: MIT */
/* Unit tests of the virtio devices' saved state (snapshots) over the
 * driver-side fake of virtio_driver.h (no KVM): a device saved mid-stream and
 * loaded back, into itself or into a new device, carries on from the saved
 * queue indices; a state from a file is checked field by field and a refused
 * one changes nothing; random states are refused or taken, never crash, and
 * the device still works after a reset. The held-chain cases of
 * virtio-console and the connection reset of virtio-vsock are in their own
 * tests. */
#include "virtio_driver.h"

/* A snapshot as the test takes it: the device's state, guest RAM and the
 * driver's shadow of queue 0. */
struct snap {
    uint8_t *blob;
    size_t len;
    uint8_t *ram;
    uint16_t avail_idx, used_seen;
};

static void snap_take(struct fx *f, struct snap *s)
{
    assert_int_equal(vmm_device_save(f->dev, NULL, 0, &s->len), 0);
    s->blob = malloc(s->len);
    s->ram = malloc(RAM_SIZE);
    assert_non_null(s->blob);
    assert_non_null(s->ram);
    assert_int_equal(vmm_device_save(f->dev, s->blob, s->len, &s->len), 0);
    memcpy(s->ram, f->ram, RAM_SIZE);
    s->avail_idx = f->avail_idx;
    s->used_seen = f->used_seen;
}

/* Guest RAM and the driver back to the snapshot (the device is the test's). */
static void snap_ram(struct fx *f, const struct snap *s)
{
    memcpy(f->ram, s->ram, RAM_SIZE);
    f->avail_idx = s->avail_idx;
    f->used_seen = s->used_seen;
}

static void snap_free(struct snap *s)
{
    free(s->blob);
    free(s->ram);
}

/* n requests, each coming back at the next used index. */
static void serve_n(struct fx *f, unsigned int n)
{
    for (unsigned int i = 0; i < n; i++) {
        uint16_t before = used_idx(f);
        expect_serves(f);
        assert_int_equal(used_idx(f), (uint16_t)(before + 1));
    }
}

/* Saved after 3 requests, run on for 5, loaded back: the device and the
 * driver agree again (the next request lands at used index 3), and the
 * registers read as saved. */
static void round_trip(struct fx *f)
{
    start_default(f);
    serve_n(f, 3);
    w32(f, R_QUEUE_SEL, 0);
    struct snap s;
    snap_take(f, &s);
    serve_n(f, 5);
    assert_int_equal(used_idx(f), 8);
    snap_ram(f, &s);
    assert_int_equal(vmm_device_load(f->dev, s.blob, s.len), 0);
    assert_int_equal(r32(f, R_STATUS), S_LIVE);
    assert_int_equal(r32(f, R_QUEUE_READY), 1);
    assert_int_equal(used_idx(f), 3);
    serve_n(f, 2);
    assert_int_equal(used_idx(f), 5);
    /* Saving again gives the same bytes as the first save at that point. */
    snap_ram(f, &s);
    assert_int_equal(vmm_device_load(f->dev, s.blob, s.len), 0);
    size_t len;
    uint8_t again[512];
    assert_true(s.len <= sizeof again);
    assert_int_equal(vmm_device_save(f->dev, again, sizeof again, &len), 0);
    assert_int_equal(len, s.len);
    assert_memory_equal(again, s.blob, len);
    snap_free(&s);
}

static void test_rng_round_trip(void **st)
{
    round_trip(*st);
}

static void test_blk_round_trip(void **st)
{
    round_trip(*st);
}

/* A snapshot file's state goes into a new device (a new VM built the same
 * way): it is live at once, without the driver setting it up again. */
static void test_blk_into_new_device(void **st)
{
    struct fx *f = *st;
    start_default(f);
    serve_n(f, 4);
    struct snap s;
    snap_take(f, &s);
    assert_int_equal(attach_blk(f, ""), 0);
    assert_int_equal(r32(f, R_STATUS), 0);
    snap_ram(f, &s);
    assert_int_equal(vmm_device_load(f->dev, s.blob, s.len), 0);
    assert_int_equal(r32(f, R_STATUS), S_LIVE);
    serve_n(f, 3);
    assert_int_equal(used_idx(f), 7);

    /* A disk the guest did not see: refused, saying why; nothing changes. */
    assert_int_equal(attach_blk(f, ", \"readonly\": true"), 0);
    assert_int_equal(vmm_device_load(f->dev, s.blob, s.len), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "read-only"));
    assert_int_equal(r32(f, R_STATUS), 0);
    /* Nor does an rng's state fit a disk. */
    assert_int_equal(attach(f, RNG, RNG_CONFIG), 0);
    assert_int_equal(vmm_device_load(f->dev, s.blob, s.len), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "device id 2"));
    snap_free(&s);
}

/* Transport offsets in the saved state (docs/snapshot-format.md). */
enum {
    O_VERSION = 0,
    O_NQUEUES = 1,
    O_RESERVED = 2,
    O_DEVICE_ID = 4,
    O_STATUS = 8,
    O_ISR = 24,
    O_FEATURES = 32,
    O_BROKEN = 40,
    O_PAD = 41,
    O_Q0 = 48,
};

struct mutation {
    const char *what;
    size_t at;
    unsigned int width;
    uint64_t value;
    const char *needle; /* in the error message */
};

static void put_le(uint8_t *p, unsigned int width, uint64_t v)
{
    memcpy(p, &v, width);
}

/* Each field a file could get wrong is refused with its reason, and the
 * device keeps its state of before (it still serves from it). */
static void test_refusals(void **st)
{
    struct fx *f = *st;
    start_default(f);
    serve_n(f, 2);
    struct snap s;
    snap_take(f, &s);
    const struct mutation m[] = {
        {"version", O_VERSION, 1, 2, "unknown version"},
        {"queues", O_NQUEUES, 1, 2, "queues"},
        {"reserved", O_RESERVED, 2, 1, "reserved"},
        {"device id", O_DEVICE_ID, 4, 4, "device id 4"},
        {"status bit", O_STATUS, 4, S_LIVE | 0x10, "status bits"},
        {"DRIVER_OK alone", O_STATUS, 4, S_ACK | S_DRIVER | S_DRIVER_OK, "DRIVER_OK"},
        {"NEEDS_RESET without broken", O_STATUS, 4, S_LIVE | S_NEEDS_RESET, "NEEDS_RESET"},
        {"broken without NEEDS_RESET", O_BROKEN, 1, 1, "NEEDS_RESET"},
        {"feature not offered", O_FEATURES, 8, F_VERSION_1 | (1ull << 40), "offer"},
        {"no VERSION_1", O_FEATURES, 8, 0, "offer"},
        {"isr", O_ISR, 4, 4, "interrupt status"},
        {"padding", O_PAD, 1, 1, "reserved"},
        {"ready 2", O_Q0 + 30, 1, 2, "ready"},
        {"num 3", O_Q0 + 24, 2, 3, "power of two"},
        {"num above max", O_Q0 + 24, 2, 512, "QueueNumMax"},
        {"desc misaligned", O_Q0, 8, DESC + 8, "aligned"},
        {"desc in the hole", O_Q0, 8, HOLE, "outside RAM"},
        {"used beyond RAM", O_Q0 + 16, 8, RAM_SIZE - 8, "outside RAM"},
        {"used more than taken", O_Q0 + 28, 2, 3 + NUM, "used"},
    };
    uint8_t *bad = malloc(s.len + 1);
    assert_non_null(bad);
    for (size_t i = 0; i < VMM__ARRAY_LEN(m); i++) {
        memcpy(bad, s.blob, s.len);
        put_le(bad + m[i].at, m[i].width, m[i].value);
        int rc = vmm_device_load(f->dev, bad, s.len);
        if (rc != VMM_EINVAL || !strstr(vmm_error_last()->message, m[i].needle))
            fail_msg("%s: rc %d, \"%s\"", m[i].what, rc, vmm_error_last()->message);
        serve_n(f, 1);
    }
    memcpy(bad, s.blob, s.len);
    bad[s.len] = 0;
    assert_int_equal(vmm_device_load(f->dev, bad, s.len + 1), VMM_EINVAL);
    for (size_t cut = 0; cut < s.len; cut++)
        assert_int_equal(vmm_device_load(f->dev, s.blob, cut), VMM_EINVAL);
    serve_n(f, 1);
    free(bad);
    snap_free(&s);
}

/* Any bytes: refused or taken, never a crash or a read out of bounds (ASan
 * build), and the device works after a reset either way. Half the inputs
 * are a real state with a few bytes changed, so loads get past the header. */
static void random_states(struct fx *f)
{
    start_default(f);
    serve_n(f, 1);
    struct snap s;
    snap_take(f, &s);
    uint64_t seed = 0x2545f4914f6cdd1dull;
    unsigned int taken = 0;
    for (int i = 0; i < 20000; i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        size_t len = i % 2 ? s.len : (size_t)(seed % (2 * s.len));
        uint8_t *p = malloc(len ? len : 1);
        assert_non_null(p);
        if (i % 2) {
            memcpy(p, s.blob, len);
            for (int k = 0; k < 3; k++) {
                seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
                p[seed % len] ^= (uint8_t)(1u << (seed >> 60 & 7));
            }
        } else {
            for (size_t k = 0; k < len; k++)
                p[k] = (uint8_t)(seed >> (k % 56));
        }
        int rc = vmm_device_load(f->dev, p, len);
        assert_true(rc == 0 || rc == VMM_EINVAL);
        taken += rc == 0;
        free(p);
        (void)r32(f, R_STATUS);
        if (i % 1000 == 999) {
            snap_ram(f, &s); /* the loads may have had the device write RAM */
            recover(f);
        }
    }
    fprintf(stderr, "%s: 20000 states, %u taken, the rest refused\n",
            f->kind == RNG ? "virtio-rng" : "virtio-blk", taken);
    assert_true(taken > 0);
    snap_free(&s);
}

static void test_rng_random_states(void **st)
{
    random_states(*st);
}

static void test_blk_random_states(void **st)
{
    random_states(*st);
}

/* virtio-net keeps its MAC: a state from a device with another is refused. */
static void test_net_mac(void **st)
{
    struct fx *f = *st;
    vmm__device_free(f->dev);
    f->dev = NULL;
    const char *cfg = "{\"mmio\": 268435456, \"mac\": \"52:54:00:00:00:01\"}";
    assert_int_equal(vmm__device_new("virtio-net", cfg, &fake_host, f, "net0", &f->dev), 0);
    assert_true(negotiate(f, F_VERSION_1 | (1ull << 5)) & S_FEATURES_OK);
    size_t len;
    uint8_t blob[512];
    assert_int_equal(vmm_device_save(f->dev, blob, sizeof blob, &len), 0);
    assert_int_equal(vmm_device_load(f->dev, blob, len), 0);
    assert_int_equal(r32(f, R_STATUS), S_ACK | S_DRIVER | S_FEATURES_OK);
    vmm__device_free(f->dev);
    f->dev = NULL;
    cfg = "{\"mmio\": 268435456, \"mac\": \"52:54:00:00:00:02\"}";
    assert_int_equal(vmm__device_new("virtio-net", cfg, &fake_host, f, "net0", &f->dev), 0);
    assert_int_equal(vmm_device_load(f->dev, blob, len), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "52:54:00:00:00:01"));
    assert_int_equal(r32(f, R_STATUS), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rng_round_trip, setup_rng, teardown),
        cmocka_unit_test_setup_teardown(test_blk_round_trip, setup_blk, teardown),
        cmocka_unit_test_setup_teardown(test_blk_into_new_device, setup_blk, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup_blk, teardown),
        cmocka_unit_test_setup_teardown(test_rng_random_states, setup_rng, teardown),
        cmocka_unit_test_setup_teardown(test_blk_random_states, setup_blk, teardown),
        cmocka_unit_test_setup_teardown(test_net_mac, setup_rng, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
