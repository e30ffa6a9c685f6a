/* SPDX-License-Identifier: MIT */
/* The fuzzing harness (fuzz.h) over a real VM: outcomes, coverage, resets,
 * input checks and many runs without leaks. Guest: guest/fuzz_cases.S. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "kvm_test.h"

#define INPUT    0x100000u
#define COVERAGE 0x40000u

struct fvm {
    vmm_vm *vm;
    vmm_vcpu *vcpu;
    vmm_fuzz *f;
};

static void fvm_start(struct fvm *t, bool report, unsigned int flags, uint64_t budget_ns)
{
    memset(t, 0, sizeof *t);
    assert_int_equal(vmm_vm_create(&t->vm, NULL), 0);
    assert_int_equal(vmm_mem_map(t->vm, 0, RAM_SIZE, NULL, 0), 0);
    assert_int_equal(
        vmm_device_attach(NULL, t->vm, "debug-exit", "{\"mmio\": \"0xd0000000\", \"size\": 4}"), 0);
    assert_int_equal(vmm_vcpu_create(&t->vcpu, t->vm, 0), 0);
    assert_int_equal(vmm_boot_flat(t->vm, guest_path("fuzz_cases"), GUEST_LOAD, NULL), 0);
    tvm_setup_cpu(t->vcpu, VMM_X86_LONG, 3,
                  report ? VMM_X86_EXCEPTIONS_REPORT : VMM_X86_EXCEPTIONS_NONE);
    /* Stale counters before the harness exists: it must zero them. */
    uint8_t junk[256];
    memset(junk, 0x11, sizeof junk);
    assert_int_equal(vmm_mem_write(t->vm, COVERAGE, junk, sizeof junk), 0);
    vmm_fuzz_options fo = VMM_FUZZ_OPTIONS_INIT;
    fo.input_addr = INPUT;
    fo.input_size = 8 + 4096;
    fo.coverage_addr = COVERAGE;
    fo.coverage_size = 256;
    fo.time_budget_ns = budget_ns;
    fo.flags = flags;
    if (vmm_fuzz_create(&t->f, t->vm, &fo) != 0)
        fail_msg("vmm_fuzz_create: %s", vmm_error_last()->message);
}

static void fvm_stop(struct fvm *t)
{
    vmm_fuzz_destroy(t->f);
    vmm_vm_destroy(t->vm);
}

static vmm_fuzz_result run(struct fvm *t, const void *in, size_t len)
{
    vmm_fuzz_result r;
    if (vmm_fuzz_run(t->f, in, len, &r) != 0)
        fail_msg("vmm_fuzz_run: %s", vmm_error_last()->message);
    return r;
}

static void test_outcomes(void **state)
{
    (void)state;
    struct fvm t;
    fvm_start(&t, true, VMM_FUZZ_KEEP_PAGE_TABLES, 200000000);
    static const uint8_t ok[] = {0}, st[] = {1}, ud[] = {2}, pf[] = {3}, loop[] = {4}, mmio[] = {5};

    vmm_fuzz_result r = run(&t, ok, 1);
    assert_int_equal(r.outcome, VMM_FUZZ_OK);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.exit.reason, VMM_EXIT_STATUS);

    r = run(&t, st, 1);
    assert_int_equal(r.outcome, VMM_FUZZ_STATUS);
    assert_int_equal(r.status, 7);

    r = run(&t, ud, 1);
    assert_int_equal(r.outcome, VMM_FUZZ_CRASH);
    assert_int_equal(r.vector, 6);
    assert_int_equal(r.address, r.rip);
    uint8_t b[2];
    assert_int_equal(vmm_mem_read(t.vm, r.rip, b, 2), 0);
    assert_true(b[0] == 0x0f && b[1] == 0x0b);

    r = run(&t, pf, 1);
    assert_int_equal(r.outcome, VMM_FUZZ_CRASH);
    assert_int_equal(r.vector, 14);
    assert_int_equal(r.error_code, 6); /* user write to a not-present page */
    assert_int_equal(r.address, 0x5000000000ull);

    r = run(&t, loop, 1);
    assert_int_equal(r.outcome, VMM_FUZZ_TIMEOUT);
    assert_true(r.run_ns >= 200000000);

    r = run(&t, mmio, 1);
    assert_int_equal(r.outcome, VMM_FUZZ_EXIT);
    assert_int_equal(r.exit.reason, VMM_EXIT_MMIO);
    assert_int_equal(r.exit.mmio.addr, 0xe0000000u);

    /* After all that, the plain case behaves as the first time. */
    r = run(&t, ok, 1);
    assert_int_equal(r.outcome, VMM_FUZZ_OK);

    vmm_fuzz_stats s;
    assert_int_equal(vmm_fuzz_get_stats(t.f, &s), 0);
    assert_int_equal(s.runs, 7);
    assert_int_equal(s.crashes, 2);
    assert_int_equal(s.timeouts, 1);
    fvm_stop(&t);

    /* Without exception reporting a crash is a triple fault. */
    fvm_start(&t, false, 0, 200000000);
    r = run(&t, ud, 1);
    assert_int_equal(r.outcome, VMM_FUZZ_CRASH);
    assert_int_equal(r.vector, VMM_FUZZ_VECTOR_SHUTDOWN);
    r = run(&t, ok, 1);
    assert_int_equal(r.outcome, VMM_FUZZ_OK);
    fvm_stop(&t);
}

/* Coverage: each input byte b counts at counter b; every run starts from zero
 * counters and from the snapshot's memory. */
static void test_coverage_and_reset(void **state)
{
    (void)state;
    struct fvm t;
    fvm_start(&t, true, VMM_FUZZ_KEEP_PAGE_TABLES, 1000000000);
    size_t n;
    const uint8_t *cov = vmm_fuzz_coverage(t.f, &n);
    assert_int_equal(n, 256);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(cov[i], 0);
    uint8_t in[300];
    memset(in, 0x42, sizeof in);
    in[0] = 0;
    in[1] = 9;
    in[2] = 9;
    vmm_fuzz_result r = run(&t, in, sizeof in);
    assert_int_equal(r.outcome, VMM_FUZZ_OK);
    assert_int_equal(cov[0], 1);
    assert_int_equal(cov[9], 2);
    assert_int_equal(cov[0x42], (uint8_t)(sizeof in - 3)); /* 297 wraps to 41 */
    assert_int_equal(cov[0x43], 0);
    /* A shorter input: the counters and the input region's tail are back to
     * the snapshot's (zero), not left over from the last run. */
    static const uint8_t small[] = {0, 5};
    r = run(&t, small, sizeof small);
    assert_int_equal(r.outcome, VMM_FUZZ_OK);
    assert_int_equal(cov[9], 0);
    assert_int_equal(cov[0x42], 0);
    assert_int_equal(cov[5], 1);
    assert_int_equal(cov[0], 1);
    uint8_t tail[8];
    assert_int_equal(vmm_mem_read(t.vm, INPUT + 8 + sizeof small, tail, sizeof tail), 0);
    for (size_t i = 0; i < sizeof tail; i++)
        assert_int_equal(tail[i], 0);
    /* The empty input. */
    r = run(&t, NULL, 0);
    assert_int_equal(r.outcome, VMM_FUZZ_OK);
    assert_int_equal(cov[0], 0);
    /* Scribbling over 16 pages: the next run sees them restored. */
    static const uint8_t scribble[] = {6};
    r = run(&t, scribble, 1);
    assert_int_equal(r.outcome, VMM_FUZZ_OK);
    uint8_t page[16];
    assert_int_equal(vmm_mem_read(t.vm, 0x180000 + 5 * 4096, page, sizeof page), 0);
    assert_int_equal(page[0], 0x55);
    assert_int_equal(vmm_fuzz_reset(t.f), 0);
    assert_int_equal(vmm_mem_read(t.vm, 0x180000 + 5 * 4096, page, sizeof page), 0);
    assert_int_equal(page[0], 0);
    vmm_snapshot_stats st;
    assert_int_equal(vmm_snapshot_last_restore(t.vm, &st), 0);
    assert_true(st.pages_copied >= 16 && st.pages_copied <= 20);
    assert_int_equal(st.shadow_flushed, 0); /* KEEP_PAGE_TABLES, no table changed */
    fvm_stop(&t);
}

static void test_refusals(void **state)
{
    (void)state;
    struct fvm t;
    fvm_start(&t, true, 0, 0);
    vmm_fuzz_result r;
    static uint8_t big[4097];
    assert_int_equal(vmm_fuzz_run(t.f, big, sizeof big, &r), VMM_ERANGE);
    assert_non_null(strstr(vmm_error_last()->message, "4096"));
    assert_int_equal(vmm_fuzz_run(t.f, NULL, 3, &r), VMM_EINVAL);
    assert_int_equal(vmm_fuzz_run(t.f, big, 1, NULL), VMM_EINVAL);
    assert_int_equal(vmm_fuzz_run(NULL, big, 1, &r), VMM_EINVAL);
    /* The harness still works after refused calls. */
    static const uint8_t ok[] = {0};
    assert_int_equal(vmm_fuzz_run(t.f, ok, 1, &r), 0);
    assert_int_equal(r.outcome, VMM_FUZZ_OK);
    assert_non_null(vmm_fuzz_snapshot(t.f));

    vmm_fuzz *f = (vmm_fuzz *)1;
    vmm_fuzz_options fo = VMM_FUZZ_OPTIONS_INIT;
    fo.input_addr = INPUT;
    fo.input_size = 4;
    assert_int_equal(vmm_fuzz_create(&f, t.vm, &fo), VMM_EINVAL);
    assert_null(f);
    fo.input_size = 64;
    fo.input_addr = INPUT + 4;
    assert_int_equal(vmm_fuzz_create(&f, t.vm, &fo), VMM_EINVAL);
    fo.input_addr = RAM_SIZE - 32; /* runs past the end of RAM */
    assert_int_equal(vmm_fuzz_create(&f, t.vm, &fo), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "not inside one RAM region"));
    fo.input_addr = INPUT;
    fo.coverage_addr = 0xd0000000u;
    fo.coverage_size = 16;
    assert_int_equal(vmm_fuzz_create(&f, t.vm, &fo), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "coverage"));
    fo.coverage_size = 0;
    fo.vcpu = 3;
    assert_int_equal(vmm_fuzz_create(&f, t.vm, &fo), VMM_EINVAL);
    fo.vcpu = 0;
    fo.flags = 8;
    assert_int_equal(vmm_fuzz_create(&f, t.vm, &fo), VMM_EINVAL);
    fo.flags = 0;
    fo.version = 99;
    assert_int_equal(vmm_fuzz_create(&f, t.vm, &fo), VMM_EVERSION);
    assert_int_equal(vmm_fuzz_create(NULL, t.vm, &fo), VMM_EINVAL);
    assert_null(vmm_fuzz_coverage(NULL, NULL));
    vmm_fuzz_destroy(NULL);
    fvm_stop(&t);
}

/* Many runs with varied outcomes: deterministic, no growth in memory or fds. */
static void test_many_runs(void **state)
{
    (void)state;
    rss_growth_test_begin();
    struct fvm t;
    fvm_start(&t, true, VMM_FUZZ_KEEP_PAGE_TABLES, 1000000000);
    enum { RUNS = 5000, WARM = 200 };
    long rss0 = 0;
    int fds0 = 0;
    for (int i = 0; i < RUNS; i++) {
        if (i == WARM) {
            rss0 = rss_kib();
            fds0 = count_open_fds();
        }
        uint8_t in[4] = {(uint8_t)(i % 4 == 3 ? 2 : i % 2), (uint8_t)(8 + i % 200), 7, 7};
        vmm_fuzz_result r = run(&t, in, sizeof in);
        vmm_fuzz_outcome want = in[0] == 2 ? VMM_FUZZ_CRASH : in[0] ? VMM_FUZZ_STATUS : VMM_FUZZ_OK;
        if (r.outcome != want)
            fail_msg("run %d: outcome %d, expected %d", i, (int)r.outcome, (int)want);
        const uint8_t *cov = vmm_fuzz_coverage(t.f, NULL);
        if (cov[7] != 2)
            fail_msg("run %d: counter 7 is %u, expected 2", i, cov[7]);
    }
    long rss1 = rss_kib();
    int fds1 = count_open_fds();
    vmm_fuzz_stats s;
    assert_int_equal(vmm_fuzz_get_stats(t.f, &s), 0);
    fprintf(stderr, "%d runs: reset %.1f us, run %.1f us on average; VmRSS %ld -> %ld KiB\n", RUNS,
            (double)s.reset_ns / 1e3 / (double)s.runs, (double)s.run_ns / 1e3 / (double)s.runs,
            rss0, rss1);
    assert_true(rss1 <= rss0 + 1024);
    assert_int_equal(fds1, fds0);
    fvm_stop(&t);
}

int main(void)
{
    require_kvm("test_fuzz");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outcomes),
        cmocka_unit_test(test_coverage_and_reset),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_many_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
