/* SPDX-License-Identifier: MIT */
/* Unit tests of the device type registry and of device creation failures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"
#include "devices/builtin.h"

/* ---- a minimal device type ---- */

static int d_create(vmm_device *dev, const char *config_json, void **state)
{
    (void)dev;
    (void)config_json;
    *state = NULL;
    return 0;
}

static int d_read(void *state, unsigned int range, uint64_t offset, void *data, unsigned int size)
{
    (void)state;
    (void)range;
    memset(data, (int)(offset & 0xff), size);
    return 0;
}

static int d_write(void *state, unsigned int range, uint64_t offset, const void *data,
                   unsigned int size)
{
    (void)state;
    (void)range;
    (void)offset;
    (void)data;
    (void)size;
    return 0;
}

static vmm_device_ops make_ops(const char *name)
{
    vmm_device_ops o = {.version = VMM_DEVICE_OPS_VERSION,
                        .name = name,
                        .create = d_create,
                        .read = d_read,
                        .write = d_write};
    return o;
}

static void expect_register(const vmm_device_ops *ops, int want, const char *what)
{
    vmm_error_clear();
    int rc = vmm_device_register(ops);
    if (rc != want)
        fail_msg("%s: vmm_device_register returned %d, expected %d (%s)", what, rc, want,
                 vmm_error_last()->message);
    if (want < 0) {
        assert_int_equal(vmm_error_last()->code, want);
        assert_string_not_equal(vmm_error_last()->message, "no error");
    }
}

/* ---- registration ---- */

static void test_register_null_and_version(void **st)
{
    (void)st;
    expect_register(NULL, VMM_EINVAL, "NULL ops");
    vmm_device_ops o = make_ops("versioned");
    o.version = 0;
    expect_register(&o, VMM_EVERSION, "version 0");
    o.version = VMM_DEVICE_OPS_VERSION + 1;
    expect_register(&o, VMM_EVERSION, "version + 1");
    assert_non_null(strstr(vmm_error_last()->message, "version"));
    assert_null(vmm_device_find_type("versioned"));
}

static void test_register_bad_names(void **st)
{
    (void)st;
    static const char *const bad[] = {
        "",
        "Serial",
        "UART",
        "abcdefghijklmnopqrstuvwxyz012345", /* 32 characters */
        "has space",
        " lead",
        "trail ",
        "dot.name",
        "slash/name",
        "tab\tname",
        "caf\xc3\xa9",
        "name\n",
    };
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad); i++) {
        vmm_device_ops o = make_ops(bad[i]);
        expect_register(&o, VMM_EINVAL, bad[i]);
        assert_null(vmm_device_find_type(bad[i]));
    }
    vmm_device_ops o = make_ops(NULL);
    expect_register(&o, VMM_EINVAL, "NULL name");

    /* The limits themselves are accepted. */
    static const char *const good[] = {"a", "0",     "-",
                                       "_", "a-b_9", "abcdefghijklmnopqrstuvwxyz01234"}; /* 31 */
    for (size_t i = 0; i < VMM__ARRAY_LEN(good); i++) {
        vmm_device_ops g = make_ops(good[i]);
        expect_register(&g, 0, good[i]);
        assert_non_null(vmm_device_find_type(good[i]));
        assert_int_equal(vmm_device_unregister(good[i]), 0);
        assert_null(vmm_device_find_type(good[i]));
    }
}

static void test_register_missing_callbacks(void **st)
{
    (void)st;
    vmm_device_ops o = make_ops("incomplete");
    o.create = NULL;
    expect_register(&o, VMM_EINVAL, "no create");
    o = make_ops("incomplete");
    o.read = NULL;
    expect_register(&o, VMM_EINVAL, "no read");
    o = make_ops("incomplete");
    o.write = NULL;
    expect_register(&o, VMM_EINVAL, "no write");
    assert_non_null(strstr(vmm_error_last()->message, "incomplete"));
    assert_null(vmm_device_find_type("incomplete"));
    /* reset, save, load and destroy are optional. */
    o = make_ops("incomplete");
    expect_register(&o, 0, "only mandatory callbacks");
    assert_int_equal(vmm_device_unregister("incomplete"), 0);
}

static void test_register_duplicate(void **st)
{
    (void)st;
    static vmm_device_ops a, b;
    a = make_ops("dup");
    b = make_ops("dup");
    expect_register(&a, 0, "first");
    expect_register(&a, VMM_EEXIST, "same ops again");
    expect_register(&b, VMM_EEXIST, "other ops, same name");
    assert_non_null(strstr(vmm_error_last()->message, "dup"));
    /* The first registration is the one in force. */
    assert_ptr_equal(vmm_device_find_type("dup"), &a);
    assert_int_equal(vmm_device_unregister("dup"), 0);
    assert_int_equal(vmm_device_unregister("dup"), VMM_ENOENT);
    expect_register(&b, 0, "after unregister");
    assert_ptr_equal(vmm_device_find_type("dup"), &b);
    assert_int_equal(vmm_device_unregister("dup"), 0);
}

static void test_builtins(void **st)
{
    (void)st;
    static const char *const names[] = {"serial", "debug-exit"};
    const vmm_device_ops *expect[] = {&vmm__serial_ops, &vmm__debug_exit_ops};
    for (size_t i = 0; i < VMM__ARRAY_LEN(names); i++) {
        const vmm_device_ops *ops = vmm_device_find_type(names[i]);
        assert_ptr_equal(ops, expect[i]);
        assert_string_equal(ops->name, names[i]);
        assert_int_equal(ops->version, VMM_DEVICE_OPS_VERSION);
        vmm_error_clear();
        assert_int_equal(vmm_device_unregister(names[i]), VMM_EPERM);
        assert_int_equal(vmm_error_last()->code, VMM_EPERM);
        assert_non_null(strstr(vmm_error_last()->message, names[i]));
        assert_ptr_equal(vmm_device_find_type(names[i]), expect[i]);
        vmm_device_ops o = make_ops(names[i]);
        expect_register(&o, VMM_EEXIST, names[i]);
        expect_register(expect[i], VMM_EEXIST, names[i]);
        assert_ptr_equal(vmm_device_find_type(names[i]), expect[i]);
    }
}

static void test_unregister_unknown(void **st)
{
    (void)st;
    vmm_error_clear();
    assert_int_equal(vmm_device_unregister("no-such-type"), VMM_ENOENT);
    assert_int_equal(vmm_error_last()->code, VMM_ENOENT);
    assert_non_null(strstr(vmm_error_last()->message, "no-such-type"));
    assert_int_equal(vmm_device_unregister(""), VMM_ENOENT);
    assert_int_equal(vmm_device_unregister(NULL), VMM_EINVAL);
    assert_null(vmm_device_find_type(NULL));
    assert_null(vmm_device_find_type("no-such-type"));
    assert_null(vmm_device_find_type("Serial")); /* names are case-sensitive */
}

/* ---- devices created through the registry ---- */

struct host_ctx {
    struct vmm__bus pio, mmio;
    unsigned int releases;
    vmm_device *released;
};

static int h_claim(void *ctx, vmm_device *dev, vmm_space space, uint64_t base, uint64_t len,
                   unsigned int index)
{
    struct host_ctx *h = ctx;
    return vmm__bus_add(space == VMM_SPACE_PIO ? &h->pio : &h->mmio, base, len, dev, index);
}

static void h_release(void *ctx, vmm_device *dev)
{
    struct host_ctx *h = ctx;
    h->releases++;
    h->released = dev;
    vmm__bus_remove_device(&h->pio, dev);
    vmm__bus_remove_device(&h->mmio, dev);
}

static const struct vmm__devhost fake_host = {.claim = h_claim, .release = h_release};

static unsigned int destroys;
static vmm_device *created_dev;

/* Claims two ranges, then fails; says why with vmm_device_error(). */
static int fail_create(vmm_device *dev, const char *config_json, void **state)
{
    (void)state;
    created_dev = dev;
    int rc = vmm_device_claim(dev, VMM_SPACE_PIO, 0x500, 4);
    if (rc == 0)
        rc = vmm_device_claim(dev, VMM_SPACE_MMIO, 0xfe000000ull, 0x1000);
    if (rc < 0)
        return rc;
    if (config_json && strcmp(config_json, "silent") == 0)
        return VMM_ENOSYS; /* no explanation */
    vmm_device_error(dev, "backing file %s missing", "disk.img");
    return VMM_ENOENT;
}

/* Claims the same ranges and succeeds. */
static int ok_create(vmm_device *dev, const char *config_json, void **state)
{
    (void)config_json;
    int rc = vmm_device_claim(dev, VMM_SPACE_PIO, 0x500, 4);
    if (rc == 0)
        rc = vmm_device_claim(dev, VMM_SPACE_MMIO, 0xfe000000ull, 0x1000);
    if (rc < 0)
        return rc;
    *state = malloc(16);
    return *state ? 0 : VMM_ENOMEM;
}

static void count_destroy(void *state)
{
    destroys++;
    free(state);
}

static const vmm_device_ops fail_ops = {.version = VMM_DEVICE_OPS_VERSION,
                                        .name = "fails",
                                        .create = fail_create,
                                        .read = d_read,
                                        .write = d_write,
                                        .destroy = count_destroy};
static const vmm_device_ops ok_ops = {.version = VMM_DEVICE_OPS_VERSION,
                                      .name = "works",
                                      .create = ok_create,
                                      .read = d_read,
                                      .write = d_write,
                                      .destroy = count_destroy};

static void test_failed_create_leaves_nothing(void **st)
{
    (void)st;
    assert_int_equal(vmm_device_register(&fail_ops), 0);
    assert_int_equal(vmm_device_register(&ok_ops), 0);
    struct host_ctx h = {0};
    vmm_device *dev = (vmm_device *)&h;
    destroys = 0;
    assert_int_equal(vmm__device_new("fails", NULL, &fake_host, &h, "disk0", &dev), VMM_ENOENT);
    assert_null(dev);
    /* The host was told to forget the device's claims, and did. */
    assert_int_equal(h.releases, 1);
    assert_ptr_equal(h.released, created_dev);
    assert_int_equal(h.pio.n, 0);
    assert_int_equal(h.mmio.n, 0);
    /* create() owns its cleanup: destroy is not called on a failed create. */
    assert_int_equal(destroys, 0);
    const vmm_error *e = vmm_error_last();
    assert_int_equal(e->code, VMM_ENOENT);
    assert_non_null(strstr(e->message, "backing file disk.img missing"));
    assert_non_null(strstr(e->message, "disk0"));

    /* Without an explanation, the message still names the device and the code. */
    assert_int_equal(vmm__device_new("fails", "silent", &fake_host, &h, "disk1", &dev), VMM_ENOSYS);
    assert_int_equal(h.releases, 2);
    assert_non_null(strstr(vmm_error_last()->message, "disk1"));
    assert_non_null(strstr(vmm_error_last()->message, vmm_strerror(VMM_ENOSYS)));

    /* The ranges are free again. */
    vmm_device *good;
    assert_int_equal(vmm__device_new("works", NULL, &fake_host, &h, "good0", &good), 0);
    assert_int_equal(h.pio.n, 1);
    assert_int_equal(h.mmio.n, 1);
    assert_ptr_equal(vmm__bus_find(&h.pio, 0x500, 4)->dev, good);
    assert_int_equal(vmm__bus_find(&h.mmio, 0xfe000ff8ull, 8)->index, 1);

    /* A second device claiming the same ranges fails with the overlap, and
     * does not disturb the first. */
    vmm_device *clash;
    assert_int_equal(vmm__device_new("works", NULL, &fake_host, &h, "good1", &clash), VMM_EEXIST);
    assert_null(clash);
    assert_non_null(strstr(vmm_error_last()->message, "good1"));
    assert_non_null(strstr(vmm_error_last()->message, "good0"));
    assert_int_equal(h.pio.n, 1);
    assert_ptr_equal(vmm__bus_find(&h.pio, 0x500, 1)->dev, good);

    vmm__device_free(good);
    assert_int_equal(destroys, 1);
    vmm__bus_free(&h.pio);
    vmm__bus_free(&h.mmio);
    assert_int_equal(vmm_device_unregister("fails"), 0);
    assert_int_equal(vmm_device_unregister("works"), 0);
}

static void test_new_unknown_type(void **st)
{
    (void)st;
    struct host_ctx h = {0};
    vmm_device *dev = (vmm_device *)&h;
    assert_int_equal(vmm__device_new("nonexistent", NULL, &fake_host, &h, NULL, &dev), VMM_ENOENT);
    assert_null(dev);
    assert_non_null(strstr(vmm_error_last()->message, "nonexistent"));
    assert_int_equal(h.releases, 0);
}

static void test_device_outlives_its_type(void **st)
{
    (void)st;
    static vmm_device_ops o;
    o = make_ops("ephemeral");
    assert_int_equal(vmm_device_register(&o), 0);
    vmm_device *dev;
    assert_int_equal(vmm__device_new("ephemeral", NULL, NULL, NULL, NULL, &dev), 0);
    assert_string_equal(vmm_device_id(dev), "ephemeral");
    assert_int_equal(vmm_device_unregister("ephemeral"), 0);
    assert_null(vmm_device_find_type("ephemeral"));
    /* Already created devices keep working. */
    uint8_t v = 0;
    assert_int_equal(vmm__device_access(dev, 0, 0x42, &v, 1, false), 0);
    assert_int_equal(v, 0x42);
    assert_ptr_equal(vmm_device_type(dev), &o);
    /* Without save/load the device says so. */
    size_t len;
    assert_int_equal(vmm_device_save(dev, NULL, 0, &len), VMM_ENOSYS);
    assert_int_equal(vmm_device_load(dev, "x", 1), VMM_ENOSYS);
    vmm__device_free(dev);
    /* No new devices of an unregistered type. */
    assert_int_equal(vmm__device_new("ephemeral", NULL, NULL, NULL, NULL, &dev), VMM_ENOENT);
}

/* ---- concurrency ---- */

#define THREADS 4
#define ROUNDS  300

struct worker {
    unsigned int id;
    char name[16];
    vmm_device_ops own, shared;
    int own_failures;
    unsigned int shared_reg, shared_unreg;
};

static const char *const shared_name = "shared-type";

static void *worker(void *arg)
{
    struct worker *w = arg;
    for (unsigned int i = 0; i < ROUNDS; i++) {
        /* Its own type: every step must succeed, whatever the others do. */
        if (vmm_device_register(&w->own) != 0)
            w->own_failures++;
        if (vmm_device_find_type(w->name) != &w->own)
            w->own_failures++;
        if (vmm_device_register(&w->own) != VMM_EEXIST)
            w->own_failures++;
        if (vmm_device_unregister(w->name) != 0)
            w->own_failures++;
        if (vmm_device_find_type(w->name) != NULL)
            w->own_failures++;
        /* A type all threads fight over. */
        int rc = vmm_device_register(&w->shared);
        if (rc == 0)
            w->shared_reg++;
        else if (rc != VMM_EEXIST)
            w->own_failures++;
        rc = vmm_device_unregister(shared_name);
        if (rc == 0)
            w->shared_unreg++;
        else if (rc != VMM_ENOENT)
            w->own_failures++;
        /* Built-ins stay put. */
        if (vmm_device_find_type("serial") != &vmm__serial_ops)
            w->own_failures++;
        if (vmm_device_unregister("debug-exit") != VMM_EPERM)
            w->own_failures++;
    }
    return NULL;
}

static void test_concurrent_register_unregister(void **st)
{
    (void)st;
    static struct worker w[THREADS];
    pthread_t t[THREADS];
    for (unsigned int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].id = i;
        snprintf(w[i].name, sizeof w[i].name, "thread-%u", i);
        w[i].own = make_ops(w[i].name);
        w[i].shared = make_ops(shared_name);
    }
    for (unsigned int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    unsigned int reg = 0, unreg = 0;
    for (unsigned int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].own_failures, 0);
        reg += w[i].shared_reg;
        unreg += w[i].shared_unreg;
        assert_null(vmm_device_find_type(w[i].name));
    }
    /* Every successful registration of the shared name was matched by at most
     * one successful removal; what is left is the difference. */
    assert_true(reg >= 1);
    assert_true(reg == unreg || reg == unreg + 1);
    const vmm_device_ops *left = vmm_device_find_type(shared_name);
    if (reg == unreg) {
        assert_null(left);
    } else {
        assert_non_null(left);
        assert_int_equal(vmm_device_unregister(shared_name), 0);
    }
    assert_null(vmm_device_find_type(shared_name));
    assert_ptr_equal(vmm_device_find_type("serial"), &vmm__serial_ops);
    assert_ptr_equal(vmm_device_find_type("debug-exit"), &vmm__debug_exit_ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_null_and_version),
        cmocka_unit_test(test_register_bad_names),
        cmocka_unit_test(test_register_missing_callbacks),
        cmocka_unit_test(test_register_duplicate),
        cmocka_unit_test(test_builtins),
        cmocka_unit_test(test_unregister_unknown),
        cmocka_unit_test(test_failed_create_leaves_nothing),
        cmocka_unit_test(test_new_unknown_type),
        cmocka_unit_test(test_device_outlives_its_type),
        cmocka_unit_test(test_concurrent_register_unregister),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
