/* SPDX-License-Identifier: MIT */
/* Unit tests of error reporting, versions, options versioning, logging and rate limiting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static const int all_codes[] = {
    VMM_OK,      VMM_EPERM,     VMM_ENOENT, VMM_EIO,      VMM_E2BIG,  VMM_ENOMEM,  VMM_EFAULT,
    VMM_EBUSY,   VMM_EEXIST,    VMM_ENODEV, VMM_EINVAL,   VMM_ERANGE, VMM_ENOSYS,  VMM_EOVERFLOW,
    VMM_ENOTSUP, VMM_ETIMEDOUT, VMM_EAGAIN, VMM_EVERSION, VMM_EKVM,   VMM_ECONFIG, VMM_ESTATE,
};

/* ---- vmm_strerror ---- */

static void test_strerror_all_codes(void **st)
{
    (void)st;
    for (size_t i = 0; i < VMM__ARRAY_LEN(all_codes); i++) {
        const char *s = vmm_strerror(all_codes[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        if (strcmp(s, "unknown error") == 0)
            fail_msg("code %d has no description", all_codes[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(s, vmm_strerror(all_codes[j])) == 0)
                fail_msg("codes %d and %d share \"%s\"", all_codes[i], all_codes[j], s);
    }
    /* The errno-valued codes carry the Linux errno values. */
    assert_int_equal(VMM_ENOENT, -2);
    assert_int_equal(VMM_EINVAL, -22);
    assert_int_equal(VMM_ETIMEDOUT, -110);
    assert_int_equal(VMM_EAGAIN, -11);
}

static void test_strerror_unknown(void **st)
{
    (void)st;
    static const int unknown[] = {1, 22, -3, -4, -999, -1004, -100000, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < VMM__ARRAY_LEN(unknown); i++) {
        const char *s = vmm_strerror(unknown[i]);
        assert_non_null(s);
        assert_string_equal(s, "unknown error");
    }
}

/* ---- the thread-local last error ---- */

/* What vmm_error_last() said in main() before any libvmm call. */
static const vmm_error *initial_error;
static int initial_code = -1;
static char initial_message[64];

static void test_error_last_initial(void **st)
{
    (void)st;
    assert_non_null(initial_error);
    assert_int_equal(initial_code, 0);
    assert_string_equal(initial_message, "no error");
}

struct thread_result {
    int initial_code;
    char initial_message[64];
    int own_code;
    char own_message[128];
    bool saw_main_error;
};

static void *thread_fn(void *arg)
{
    struct thread_result *r = arg;
    const vmm_error *e = vmm_error_last();
    if (!e)
        return NULL;
    r->initial_code = e->code;
    snprintf(r->initial_message, sizeof r->initial_message, "%s", e->message);
    /* A failure of its own. */
    vmm_vm_options_init(NULL, VMM_VM_OPTIONS_VERSION);
    e = vmm_error_last();
    r->own_code = e->code;
    snprintf(r->own_message, sizeof r->own_message, "%s", e->message);
    r->saw_main_error = strstr(e->message, "main-thread-marker") != NULL;
    return NULL;
}

static void test_error_last_initial_in_new_thread(void **st)
{
    (void)st;
    /* Make sure this thread has an error, which must not leak into the new one. */
    vmm_device_unregister("main-thread-marker");
    assert_int_equal(vmm_error_last()->code, VMM_ENOENT);
    struct thread_result r;
    memset(&r, 0x55, sizeof r);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_fn, &r), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.initial_code, 0);
    assert_string_equal(r.initial_message, "no error");
    assert_int_equal(r.own_code, VMM_EINVAL);
    assert_non_null(strstr(r.own_message, "vmm_vm_options_init"));
    assert_false(r.saw_main_error);
    /* The other thread's failure does not show here. */
    const vmm_error *e = vmm_error_last();
    assert_int_equal(e->code, VMM_ENOENT);
    assert_non_null(strstr(e->message, "main-thread-marker"));
    assert_null(strstr(e->message, "vmm_vm_options_init"));
}

static void test_error_last_never_null_and_clear(void **st)
{
    (void)st;
    vmm_error_clear();
    const vmm_error *e = vmm_error_last();
    assert_non_null(e);
    assert_int_equal(e->code, 0);
    assert_non_null(e->message);
    assert_string_equal(e->message, "no error");
    assert_int_equal(vmm_vm_options_init(NULL, 1), VMM_EINVAL);
    e = vmm_error_last();
    assert_non_null(e);
    assert_int_equal(e->code, VMM_EINVAL);
    assert_non_null(e->message);
    assert_string_not_equal(e->message, "no error");
    /* Success does not clear it. */
    vmm_vm_options o;
    assert_int_equal(vmm_vm_options_init(&o, VMM_VM_OPTIONS_VERSION), 0);
    assert_int_equal(vmm_error_last()->code, VMM_EINVAL);
    vmm_error_clear();
    assert_int_equal(vmm_error_last()->code, 0);
    assert_string_equal(vmm_error_last()->message, "no error");
    vmm_error_clear(); /* idempotent */
    assert_int_equal(vmm_error_last()->code, 0);
}

static void test_error_message_truncated_safely(void **st)
{
    (void)st;
    char name[2000];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    assert_int_equal(vmm_device_unregister(name), VMM_ENOENT);
    const char *m = vmm_error_last()->message;
    assert_true(strlen(m) > 100);
    assert_true(strlen(m) < 1024);
    /* A prefix added to a full message stays bounded too. */
    vmm__err_prefix("context %s", "ctx");
    m = vmm_error_last()->message;
    assert_int_equal(strncmp(m, "context ctx: ", 13), 0);
    assert_true(strlen(m) < 1024);
}

/* ---- versions ---- */

static void test_version(void **st)
{
    (void)st;
    int major = -1, minor = -1, patch = -1;
    const char *s = vmm_version(&major, &minor, &patch);
    assert_non_null(s);
    assert_string_equal(s, VMM_VERSION_STRING);
    assert_int_equal(major, VMM_VERSION_MAJOR);
    assert_int_equal(minor, VMM_VERSION_MINOR);
    assert_int_equal(patch, VMM_VERSION_PATCH);
    assert_int_equal(VMM_VERSION_NUMBER, major * 10000 + minor * 100 + patch);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", major, minor, patch);
    assert_string_equal(buf, s);
    assert_string_equal(vmm_version(NULL, NULL, NULL), VMM_VERSION_STRING);
    minor = -1;
    vmm_version(NULL, &minor, NULL);
    assert_int_equal(minor, VMM_VERSION_MINOR);
}

/* ---- options versioning ---- */

static void test_vm_options_init(void **st)
{
    (void)st;
    vmm_error_clear();
    assert_int_equal(vmm_vm_options_init(NULL, VMM_VM_OPTIONS_VERSION), VMM_EINVAL);
    assert_int_equal(vmm_error_last()->code, VMM_EINVAL);
    vmm_vm_options o;
    memset(&o, 0xab, sizeof o);
    assert_int_equal(vmm_vm_options_init(&o, 0), VMM_EVERSION);
    assert_int_equal(vmm_error_last()->code, VMM_EVERSION);
    assert_non_null(strstr(vmm_error_last()->message, "vmm_vm_options_init"));
    assert_int_equal(vmm_vm_options_init(&o, VMM_VM_OPTIONS_VERSION + 1), VMM_EVERSION);
    assert_int_equal(vmm_vm_options_init(&o, UINT32_MAX), VMM_EVERSION);
    assert_int_equal(o.flags, 0xabababab); /* untouched on failure */
    assert_int_equal(vmm_vm_options_init(&o, VMM_VM_OPTIONS_VERSION), 0);
    vmm_vm_options d = VMM_VM_OPTIONS_INIT;
    assert_int_equal(o.version, VMM_VM_OPTIONS_VERSION);
    assert_int_equal(o.version, d.version);
    assert_int_equal(o.flags, d.flags);
    assert_int_equal(o.flags, 0);
    assert_int_equal(o.memory_limit, d.memory_limit);
    assert_int_equal(o.memory_limit, 0);
}

static void test_run_options_init(void **st)
{
    (void)st;
    assert_int_equal(vmm_run_options_init(NULL, VMM_RUN_OPTIONS_VERSION), VMM_EINVAL);
    vmm_run_options o;
    memset(&o, 0xab, sizeof o);
    assert_int_equal(vmm_run_options_init(&o, 0), VMM_EVERSION);
    assert_non_null(strstr(vmm_error_last()->message, "vmm_run_options_init"));
    assert_int_equal(vmm_run_options_init(&o, VMM_RUN_OPTIONS_VERSION + 1), VMM_EVERSION);
    assert_int_equal(vmm_run_options_init(&o, VMM_RUN_OPTIONS_VERSION), 0);
    vmm_run_options d = VMM_RUN_OPTIONS_INIT;
    assert_int_equal(o.version, VMM_RUN_OPTIONS_VERSION);
    assert_int_equal(o.version, d.version);
    assert_null(o.on_exit);
    assert_null(o.opaque);
    assert_int_equal(o.time_budget_ns, 0);
    assert_int_equal(o.time_budget_ns, d.time_budget_ns);
}

static void test_x86_setup_options_init(void **st)
{
    (void)st;
    assert_int_equal(vmm_x86_setup_options_init(NULL, VMM_X86_SETUP_OPTIONS_VERSION), VMM_EINVAL);
    vmm_x86_setup_options o;
    memset(&o, 0xab, sizeof o);
    assert_int_equal(vmm_x86_setup_options_init(&o, 0), VMM_EVERSION);
    assert_non_null(strstr(vmm_error_last()->message, "vmm_x86_setup_options_init"));
    assert_int_equal(vmm_x86_setup_options_init(&o, VMM_X86_SETUP_OPTIONS_VERSION + 1),
                     VMM_EVERSION);
    assert_int_equal(vmm_x86_setup_options_init(&o, VMM_X86_SETUP_OPTIONS_VERSION), 0);
    vmm_x86_setup_options d = VMM_X86_SETUP_OPTIONS_INIT;
    assert_int_equal(o.version, VMM_X86_SETUP_OPTIONS_VERSION);
    assert_int_equal(o.mode, VMM_X86_LONG);
    assert_int_equal(o.mode, d.mode);
    assert_int_equal(o.cpl, 0);
    assert_int_equal(o.entry, 0);
    assert_int_equal(o.stack, 0);
    assert_int_equal(o.tables, VMM_X86_TABLES_DEFAULT);
    assert_int_equal(o.tables, d.tables);
    assert_int_equal(o.identity_map_size, 0x100000000ull);
    assert_int_equal(o.identity_map_size, d.identity_map_size);
}

/* The options version is checked before /dev/kvm is opened, so this runs anywhere. */
static void test_vm_create_bad_options(void **st)
{
    (void)st;
    static const unsigned int versions[] = {0, VMM_VM_OPTIONS_VERSION + 1, 99, UINT32_MAX};
    for (size_t i = 0; i < VMM__ARRAY_LEN(versions); i++) {
        vmm_vm_options o = VMM_VM_OPTIONS_INIT;
        o.version = versions[i];
        vmm_vm *vm = (vmm_vm *)&o;
        vmm_error_clear();
        assert_int_equal(vmm_vm_create(&vm, &o), VMM_EVERSION);
        assert_null(vm);
        assert_int_equal(vmm_error_last()->code, VMM_EVERSION);
        assert_non_null(strstr(vmm_error_last()->message, "vmm_vm_options"));
    }
    /* Unknown flags are refused before KVM is touched too. */
    vmm_vm_options o = VMM_VM_OPTIONS_INIT;
    o.flags = 0x100;
    vmm_vm *vm = (vmm_vm *)&o;
    assert_int_equal(vmm_vm_create(&vm, &o), VMM_EINVAL);
    assert_null(vm);
    assert_int_equal(vmm_vm_create(NULL, NULL), VMM_EINVAL);
}

/* ---- logging ---- */

struct log_capture {
    unsigned int count;
    vmm_log_level level;
    void *opaque;
    char component[32];
    char message[600];
};

static void capture_log(void *opaque, vmm_log_level level, const char *component,
                        const char *message)
{
    struct log_capture *c = opaque;
    c->count++;
    c->level = level;
    c->opaque = opaque;
    snprintf(c->component, sizeof c->component, "%s", component);
    snprintf(c->message, sizeof c->message, "%s", message);
}

static void test_log_levels(void **st)
{
    (void)st;
    struct log_capture c = {0};
    /* Nothing is enabled before a sink is set. */
    vmm_log_set(NULL, NULL, VMM_LOG_DEBUG);
    assert_false(vmm__log_enabled(VMM_LOG_ERROR));

    vmm_log_set(capture_log, &c, VMM_LOG_WARN);
    assert_false(vmm__log_enabled(VMM_LOG_DEBUG));
    assert_false(vmm__log_enabled(VMM_LOG_INFO));
    assert_true(vmm__log_enabled(VMM_LOG_WARN));
    assert_true(vmm__log_enabled(VMM_LOG_ERROR));
    vmm__log(VMM_LOG_DEBUG, "test", "debug %d", 1);
    vmm__log(VMM_LOG_INFO, "test", "info %d", 2);
    assert_int_equal(c.count, 0);
    vmm__log(VMM_LOG_WARN, "test", "warn %d %s", 3, "x");
    assert_int_equal(c.count, 1);
    assert_int_equal(c.level, VMM_LOG_WARN);
    assert_ptr_equal(c.opaque, &c);
    assert_string_equal(c.component, "test");
    assert_string_equal(c.message, "warn 3 x");
    vmm__log(VMM_LOG_ERROR, NULL, "error");
    assert_int_equal(c.count, 2);
    assert_int_equal(c.level, VMM_LOG_ERROR);
    assert_string_equal(c.component, "libvmm"); /* never NULL */

    /* Lowering the threshold lets DEBUG through. */
    vmm_log_set(capture_log, &c, VMM_LOG_DEBUG);
    vmm__log(VMM_LOG_DEBUG, "dbg", "d");
    assert_int_equal(c.count, 3);
    assert_int_equal(c.level, VMM_LOG_DEBUG);

    /* A long message is cut, not overflowed. */
    char big[2000];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = 0;
    vmm__log(VMM_LOG_INFO, "big", "%s", big);
    assert_int_equal(c.count, 4);
    assert_true(strlen(c.message) > 100);
    assert_true(strlen(c.message) < sizeof big - 1);

    /* Devices log under their id. */
    vmm_device dev = {.id = "uart9"};
    vmm_device_log(&dev, VMM_LOG_INFO, "hello %s", "guest");
    assert_int_equal(c.count, 5);
    assert_string_equal(c.component, "uart9");
    assert_string_equal(c.message, "hello guest");

    /* NULL disables everything, errors included. */
    vmm_log_set(NULL, &c, VMM_LOG_DEBUG);
    assert_false(vmm__log_enabled(VMM_LOG_ERROR));
    vmm__log(VMM_LOG_ERROR, "test", "dropped");
    vmm_device_log(&dev, VMM_LOG_ERROR, "dropped");
    assert_int_equal(c.count, 5);
}

/* ---- rate limiting ---- */

#define WINDOW_NS 1000000000ull

static void test_ratelimit(void **st)
{
    (void)st;
    struct vmm__ratelimit rl = {0};
    uint64_t supp;
    for (int i = 0; i < 10; i++) {
        supp = 99;
        assert_true(vmm__ratelimit_ok(&rl, &supp));
        assert_int_equal(supp, 0);
    }
    for (int i = 0; i < 25; i++)
        assert_false(vmm__ratelimit_ok(&rl, &supp));
    assert_int_equal(rl.suppressed, 25);
    /* Let the window pass. */
    rl.window_start = vmm__now_ns() - 2 * WINDOW_NS;
    supp = 0;
    assert_true(vmm__ratelimit_ok(&rl, &supp));
    assert_int_equal(supp, 25); /* reported once, with the next message */
    assert_true(vmm__ratelimit_ok(&rl, &supp));
    assert_int_equal(supp, 0);
    /* A fresh burst of 10 in the new window (one used above, one just now). */
    for (int i = 0; i < 8; i++)
        assert_true(vmm__ratelimit_ok(&rl, &supp));
    assert_false(vmm__ratelimit_ok(&rl, &supp));
    /* Just before the window ends, still limited. */
    rl.window_start = vmm__now_ns() - WINDOW_NS / 2;
    assert_false(vmm__ratelimit_ok(&rl, &supp));
    assert_int_equal(rl.suppressed, 2);
}

static void test_device_log_limited(void **st)
{
    (void)st;
    struct log_capture c = {0};
    vmm_log_set(capture_log, &c, VMM_LOG_DEBUG);
    vmm_device dev = {.id = "noisy"};
    for (int i = 0; i < 100; i++)
        vmm_device_log_limited(&dev, VMM_LOG_WARN, "guest poked %d", i);
    assert_int_equal(c.count, 10);
    assert_string_equal(c.message, "guest poked 9");
    assert_string_equal(c.component, "noisy");
    dev.rl.window_start = vmm__now_ns() - 2 * WINDOW_NS;
    vmm_device_log_limited(&dev, VMM_LOG_WARN, "guest poked again");
    assert_int_equal(c.count, 11);
    assert_non_null(strstr(c.message, "guest poked again"));
    assert_non_null(strstr(c.message, "90"));
    assert_non_null(strstr(c.message, "suppressed"));
    /* Below the threshold nothing is counted against the budget. */
    vmm_log_set(capture_log, &c, VMM_LOG_ERROR);
    for (int i = 0; i < 100; i++)
        vmm_device_log_limited(&dev, VMM_LOG_WARN, "filtered");
    assert_int_equal(c.count, 11);
    assert_int_equal(dev.rl.suppressed, 0);
    vmm_log_set(NULL, NULL, VMM_LOG_DEBUG);
}

int main(void)
{
    initial_error = vmm_error_last();
    if (initial_error) {
        initial_code = initial_error->code;
        snprintf(initial_message, sizeof initial_message, "%s",
                 initial_error->message ? initial_error->message : "(null)");
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_last_initial),
        cmocka_unit_test(test_strerror_all_codes),
        cmocka_unit_test(test_strerror_unknown),
        cmocka_unit_test(test_error_last_initial_in_new_thread),
        cmocka_unit_test(test_error_last_never_null_and_clear),
        cmocka_unit_test(test_error_message_truncated_safely),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_vm_options_init),
        cmocka_unit_test(test_run_options_init),
        cmocka_unit_test(test_x86_setup_options_init),
        cmocka_unit_test(test_vm_create_bad_options),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_device_log_limited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
