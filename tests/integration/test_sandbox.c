/* SPDX-License-Identifier: MIT */
/* The sandbox (sandbox.h) end to end: static musl programs from tests/sandbox/
 * run under the default policy, callbacks, host functions, limits, faults,
 * resets and refusals, through the public API only. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "kvm_test.h"
#include <libvmm/sandbox.h>

#define MIB   (1ull << 20)
#define HELLO "hello from the sandbox\n"
/* Linux x86-64 system-call numbers the callbacks look for. */
#define NR_WRITE     1
#define NR_READ      0
#define NR_WRITEV    20
#define NR_SOCKET    41
#define NR_GETPPID   110
#define NR_OPENAT    257
#define COMPUTE_SIZE 20000000u

static const char *prog(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", LIBVMM_SANDBOX_DIR, name);
    return path;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static vmm_sandbox *sbx_new(const vmm_sandbox_options *o)
{
    vmm_sandbox *sb = NULL;
    expect_ok(vmm_sandbox_create(&sb, o), "vmm_sandbox_create");
    assert_non_null(sb);
    return sb;
}

static void sbx_load(vmm_sandbox *sb, const char *name, const char *const *argv,
                     const char *const *envp)
{
    expect_ok(vmm_sandbox_load(sb, prog(name), argv, envp), name);
}

/* A sandbox with options o (NULL: defaults) and the named program loaded. */
static vmm_sandbox *sbx_start(const vmm_sandbox_options *o, const char *name,
                              const char *const *argv)
{
    vmm_sandbox *sb = sbx_new(o);
    sbx_load(sb, name, argv, NULL);
    return sb;
}

static vmm_sandbox_result sbx_run(vmm_sandbox *sb)
{
    vmm_sandbox_result r;
    memset(&r, 0xa5, sizeof r); /* so that a field the run leaves unset shows */
    expect_ok(vmm_sandbox_run(sb, &r), "vmm_sandbox_run");
    return r;
}

/* The captured stream fd equals want exactly. */
static void assert_output(const vmm_sandbox *sb, int fd, const char *want)
{
    size_t len = 99;
    const char *got = vmm_sandbox_output(sb, fd, &len);
    size_t wlen = strlen(want);
    if (len != wlen || (wlen && (!got || memcmp(got, want, wlen) != 0)))
        fail_msg("fd %d: got %zu bytes \"%.*s\", expected \"%s\"", fd, len, (int)len,
                 got ? got : "", want);
}

/* The captured stream fd as a NUL-terminated string (static buffer). */
static const char *output_str(const vmm_sandbox *sb, int fd)
{
    static char buf[4096];
    size_t len = 0;
    const char *got = vmm_sandbox_output(sb, fd, &len);
    assert_true(len < sizeof buf);
    if (len)
        memcpy(buf, got, len);
    buf[len] = 0;
    return buf;
}

static void assert_exited(const vmm_sandbox_result *r, int status)
{
    if (r->outcome != VMM_SANDBOX_EXITED)
        fail_msg("outcome %d (fault vector %u at 0x%llx, rip 0x%llx), expected EXITED",
                 (int)r->outcome, r->fault.vector, (unsigned long long)r->fault.address,
                 (unsigned long long)r->fault.rip);
    assert_int_equal(r->status, status);
}

/* [lo, hi): where the program's executable segments are loaded. */
static void exec_range(const char *name, uint64_t *lo, uint64_t *hi)
{
    FILE *f = fopen(prog(name), "rb");
    assert_non_null(f);
    Elf64_Ehdr eh;
    assert_int_equal(fread(&eh, sizeof eh, 1, f), 1);
    uint64_t bias = eh.e_type == ET_DYN ? 0x400000 : 0; /* static-PIE base (sandbox.h) */
    *lo = UINT64_MAX;
    *hi = 0;
    for (unsigned int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        assert_int_equal(fseek(f, (long)(eh.e_phoff + i * sizeof ph), SEEK_SET), 0);
        assert_int_equal(fread(&ph, sizeof ph, 1, f), 1);
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X))
            continue;
        if (ph.p_vaddr + bias < *lo)
            *lo = ph.p_vaddr + bias;
        if (ph.p_vaddr + bias + ph.p_memsz > *hi)
            *hi = ph.p_vaddr + bias + ph.p_memsz;
    }
    fclose(f);
    assert_true(*lo < *hi);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    uint8_t *b = malloc((size_t)n);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* ---- programs under the default policy ---- */

static void check_hello(const char *name)
{
    vmm_sandbox *sb = sbx_start(NULL, name, NULL);
    assert_non_null(vmm_sandbox_vm(sb));
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, HELLO);
    assert_output(sb, 2, "");
    assert_true(r.syscalls > 0 && r.syscalls < 20);
    assert_int_equal(r.denied, 0);
    /* Only stdout and stderr have captured output. */
    size_t len = 7;
    assert_null(vmm_sandbox_output(sb, 0, &len));
    assert_int_equal(len, 0);
    len = 7;
    assert_null(vmm_sandbox_output(sb, 3, &len));
    assert_int_equal(len, 0);

    /* Once per load or reset. */
    vmm_sandbox_result r2;
    assert_int_equal(vmm_sandbox_run(sb, &r2), VMM_ESTATE);
    assert_output(sb, 1, HELLO);
    expect_ok(vmm_sandbox_reset(sb), "vmm_sandbox_reset");
    assert_output(sb, 1, ""); /* the reset emptied it */
    r2 = sbx_run(sb);
    assert_exited(&r2, 0);
    assert_output(sb, 1, HELLO);
    assert_int_equal(r2.syscalls, r.syscalls);
    vmm_sandbox_destroy(sb);
}

static void test_hello(void **state)
{
    (void)state;
    check_hello("hello");
}

static void test_hello_pie(void **state)
{
    (void)state;
    check_hello("hello_pie");
}

static void test_args(void **state)
{
    (void)state;
    static const char *const argv[] = {"args", "first", "with space", "", NULL};
    static const char *const envp[] = {"A=1", "EMPTY=", "PATH=/nowhere", NULL};
    vmm_sandbox *sb = sbx_new(NULL);
    sbx_load(sb, "args", argv, envp);
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1,
                  "argc=4\nargv[0]=args\nargv[1]=first\nargv[2]=with space\nargv[3]=\n"
                  "envp[0]=A=1\nenvp[1]=EMPTY=\nenvp[2]=PATH=/nowhere\nauxv ok\n");
    vmm_sandbox_destroy(sb);

    /* No argv: the path is argv[0]; no envp: an empty environment. */
    sb = sbx_start(NULL, "args", NULL);
    r = sbx_run(sb);
    assert_exited(&r, 0);
    char want[1024];
    snprintf(want, sizeof want, "argc=1\nargv[0]=%s\nauxv ok\n", prog("args"));
    assert_output(sb, 1, want);
    vmm_sandbox_destroy(sb);
}

static void test_exit_status(void **state)
{
    (void)state;
    static const struct {
        const char *arg;
        int status;
    } cases[] = {{NULL, 3}, {"0", 0}, {"255", 255}, {"261", 5}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[] = {"exit3", cases[i].arg, NULL};
        vmm_sandbox *sb = sbx_start(NULL, "exit3", argv);
        vmm_sandbox_result r = sbx_run(sb);
        assert_exited(&r, cases[i].status);
        vmm_sandbox_destroy(sb);
    }
}

/* compute.c's algorithm, natively, for its expected output. */
static void compute_expected(long rounds, char *buf, size_t cap)
{
    uint8_t *composite = malloc(COMPUTE_SIZE);
    assert_non_null(composite);
    unsigned int primes = 0;
    uint64_t hash = 0xcbf29ce484222325ull;
    for (long r = 0; r < rounds; r++) {
        memset(composite, 0, COMPUTE_SIZE);
        primes = 0;
        for (uint32_t i = 2; i < COMPUTE_SIZE; i++) {
            if (composite[i])
                continue;
            primes++;
            for (uint64_t j = (uint64_t)i * i; j < COMPUTE_SIZE; j += i)
                composite[j] = 1;
        }
        for (uint32_t i = 0; i < COMPUTE_SIZE; i++) {
            hash ^= composite[i];
            hash *= 0x100000001b3ull;
        }
    }
    free(composite);
    /* pi(2e7), independently known. */
    assert_int_equal(primes, 1270607);
    snprintf(buf, cap, "rounds: %ld\nprimes below %u: %u\nfnv1a: %016llx\n", rounds, COMPUTE_SIZE,
             primes, (unsigned long long)hash);
}

static void test_compute(void **state)
{
    (void)state;
    char want[256];
    compute_expected(1, want, sizeof want);
    assert_non_null(strstr(want, "fnv1a: 6184419e9565dac6\n"));
    static const char *const argv1[] = {"compute", "1", NULL};
    vmm_sandbox *sb = sbx_start(NULL, "compute", argv1);
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, want);
    vmm_sandbox_destroy(sb);

    /* The default, 4 rounds: about 0.3 s of work. */
    compute_expected(4, want, sizeof want);
    sb = sbx_start(NULL, "compute", NULL);
    uint64_t t0 = now_ns();
    r = sbx_run(sb);
    uint64_t ns = now_ns() - t0;
    assert_exited(&r, 0);
    assert_output(sb, 1, want);
    fprintf(stderr, "compute (4 rounds): %.3f s, %llu system calls\n", (double)ns / 1e9,
            (unsigned long long)r.syscalls);
    vmm_sandbox_destroy(sb);
}

static void test_many_syscalls(void **state)
{
    (void)state;
    static const char *const argv[] = {"syscalls", "20000", NULL};
    vmm_sandbox *sb = sbx_start(NULL, "syscalls", argv);
    uint64_t t0 = now_ns();
    vmm_sandbox_result r = sbx_run(sb);
    uint64_t ns = now_ns() - t0;
    assert_exited(&r, 0);
    assert_output(sb, 1, "getppid calls: 20000\n");
    assert_true(r.syscalls >= 20000 && r.syscalls < 20000 + 20);
    fprintf(stderr, "%llu system calls: %.2f us each\n", (unsigned long long)r.syscalls,
            (double)ns / 1e3 / (double)r.syscalls);
    vmm_sandbox_destroy(sb);
}

static void test_printf_float_and_heap(void **state)
{
    (void)state;
    vmm_sandbox *sb = sbx_start(NULL, "printf_float", NULL);
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    /* musl's realloc of a large block uses mremap, which the policy serves. */
    assert_int_equal(r.denied, 0);
    /* As the program prints natively on Linux. */
    assert_output(sb, 1,
                  "1.645\n1.644933e+10 -0.548311\nblocks: 090eda5e\nrealloc: kept 9a461dc5\n"
                  "shrunk: 685e5dc5\n");
    /* A reset run gets fresh zeroed pages and the same answers. */
    expect_ok(vmm_sandbox_reset(sb), "vmm_sandbox_reset");
    vmm_sandbox_result r2 = sbx_run(sb);
    assert_exited(&r2, 0);
    assert_output(sb, 1,
                  "1.645\n1.644933e+10 -0.548311\nblocks: 090eda5e\nrealloc: kept 9a461dc5\n"
                  "shrunk: 685e5dc5\n");
    assert_int_equal(r2.syscalls, r.syscalls);
    vmm_sandbox_destroy(sb);
}

static void test_clock_and_random(void **state)
{
    (void)state;
    vmm_sandbox *sb = sbx_start(NULL, "clock", NULL);
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, "ok\n");
    assert_int_equal(r.denied, 0);
    vmm_sandbox_destroy(sb);
}

/* ---- denied calls, seen by a callback ---- */

struct seen {
    unsigned int calls, sockets, openats;
    long long socket_domain;
    char path[64];
};

static int watch(void *opaque, vmm_sandbox *sb, vmm_sandbox_syscall *call)
{
    struct seen *s = opaque;
    s->calls++;
    if (call->nr == NR_SOCKET) {
        s->sockets++;
        s->socket_domain = (long long)call->args[0];
    } else if (call->nr == NR_OPENAT) {
        s->openats++;
        memset(s->path, 0, sizeof s->path);
        if (vmm_sandbox_read(sb, call->args[1], s->path, 12) != 0)
            strcpy(s->path, "<unreadable>");
    }
    return VMM_SANDBOX_DEFAULT;
}

static void test_denied(void **state)
{
    (void)state;
    struct seen s = {0};
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.syscall = watch;
    o.syscall_opaque = &s;
    vmm_sandbox *sb = sbx_start(&o, "denied", NULL);
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, "denied: ENOSYS\nstill running\n");
    assert_true(r.denied >= 2);
    assert_true(r.denied < r.syscalls);
    assert_int_equal(s.calls, r.syscalls);
    assert_int_equal(s.sockets, 1);
    assert_int_equal(s.socket_domain, 2 /* AF_INET */);
    assert_int_equal(s.openats, 1);
    assert_string_equal(s.path, "/etc/passwd");
    vmm_sandbox_destroy(sb);
}

/* ---- limits ---- */

static void test_timeout_and_reset(void **state)
{
    (void)state;
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.time_budget_ns = 300000000;
    vmm_sandbox *sb = sbx_start(&o, "loop", NULL);
    for (int i = 0; i < 2; i++) {
        uint64_t t0 = now_ns();
        vmm_sandbox_result r = sbx_run(sb);
        uint64_t ns = now_ns() - t0;
        assert_int_equal(r.outcome, VMM_SANDBOX_TIMEOUT);
        assert_true(ns >= 300000000ull);
        assert_true(ns < 3000000000ull);
        assert_output(sb, 1, "looping\n");
        expect_ok(vmm_sandbox_reset(sb), "vmm_sandbox_reset");
        assert_output(sb, 1, "");
    }
    vmm_sandbox_destroy(sb);
}

static unsigned long membomb(uint64_t memory_size, long *rss_growth_kib)
{
    rss_growth_test_begin();
    long rss0 = rss_kib();
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.memory_size = memory_size;
    vmm_sandbox *sb = sbx_start(&o, "membomb", NULL);
    vmm_sandbox_result r = sbx_run(sb);
    *rss_growth_kib = rss_kib() - rss0;
    assert_exited(&r, 0);
    unsigned long n = 0;
    const char *out = output_str(sb, 1);
    if (sscanf(out, "refused after %lu MiB\n", &n) != 1)
        fail_msg("membomb printed \"%s\"", out);
    vmm_sandbox_destroy(sb);
    return n;
}

static void test_membomb(void **state)
{
    (void)state;
    long grew64, grew32;
    unsigned long n64 = membomb(64 * MIB, &grew64);
    unsigned long n32 = membomb(32 * MIB, &grew32);
    fprintf(stderr, "membomb: %lu MiB of 64 (RSS +%ld KiB), %lu MiB of 32 (RSS +%ld KiB)\n", n64,
            grew64, n32, grew32);
    assert_true(n64 >= 10 && n64 <= 64);
    assert_true(n32 >= 10 && n32 < n64);
    /* The guest's memory is bounded by memory_size, not by the host. */
    assert_true(grew64 < 100 * 1024);
}

static void test_output_limit(void **state)
{
    (void)state;
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.max_output = 10;
    vmm_sandbox *sb = sbx_start(&o, "hello", NULL);
    vmm_sandbox_result r = sbx_run(sb);
    assert_int_equal(r.outcome, VMM_SANDBOX_OUTPUT_LIMIT);
    size_t len;
    const char *out = vmm_sandbox_output(sb, 1, &len);
    assert_true(len <= 10);
    if (len)
        assert_memory_equal(out, HELLO, len);
    vmm_sandbox_destroy(sb);

    /* Exactly the limit is allowed. */
    o.max_output = strlen(HELLO);
    sb = sbx_start(&o, "hello", NULL);
    r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, HELLO);
    vmm_sandbox_destroy(sb);

    /* stdout and stderr share the limit: 12 bytes are "out 1\n" and "err 1\n". */
    o.max_output = 12;
    sb = sbx_start(&o, "stdio", NULL);
    r = sbx_run(sb);
    assert_int_equal(r.outcome, VMM_SANDBOX_OUTPUT_LIMIT);
    assert_output(sb, 1, "out 1\n");
    assert_output(sb, 2, "err 1\n");
    vmm_sandbox_destroy(sb);
}

/* ---- faults ---- */

static vmm_sandbox_result run_fault(vmm_sandbox *sb, const char *name, uint32_t vector)
{
    vmm_sandbox_result r = sbx_run(sb);
    if (r.outcome != VMM_SANDBOX_FAULT)
        fail_msg("%s: outcome %d, expected FAULT", name, (int)r.outcome);
    assert_int_equal(r.fault.vector, vector);
    return r;
}

static void assert_rip_in(const char *name, uint64_t rip)
{
    uint64_t lo, hi;
    exec_range(name, &lo, &hi);
    if (rip < lo || rip >= hi)
        fail_msg("%s: rip 0x%llx outside the program's code [0x%llx, 0x%llx)", name,
                 (unsigned long long)rip, (unsigned long long)lo, (unsigned long long)hi);
}

static void test_faults(void **state)
{
    (void)state;
    vmm_sandbox *sb = sbx_start(NULL, "nullptr", NULL);
    vmm_sandbox_result r = run_fault(sb, "nullptr", 14);
    assert_int_equal(r.fault.address, 0);
    assert_int_equal(r.fault.error_code, 6); /* a user-mode write to a not-present page */
    assert_rip_in("nullptr", r.fault.rip);
    assert_output(sb, 2, "about to fault\n");
    /* Faulting does not break the sandbox: the same fault again after a reset. */
    expect_ok(vmm_sandbox_reset(sb), "vmm_sandbox_reset");
    vmm_sandbox_result r2 = run_fault(sb, "nullptr", 14);
    assert_int_equal(r2.fault.rip, r.fault.rip);
    vmm_sandbox_destroy(sb);

    sb = sbx_start(NULL, "crash_ud", NULL);
    r = run_fault(sb, "crash_ud", 6);
    assert_rip_in("crash_ud", r.fault.rip);
    assert_int_equal(r.fault.address, r.fault.rip);
    uint8_t insn[2];
    expect_ok(vmm_sandbox_read(sb, r.fault.rip, insn, 2), "vmm_sandbox_read");
    assert_true(insn[0] == 0x0f && insn[1] == 0x0b);
    assert_output(sb, 2, "about to fault\n");
    vmm_sandbox_destroy(sb);

    sb = sbx_start(NULL, "divzero", NULL);
    r = run_fault(sb, "divzero", 0);
    assert_rip_in("divzero", r.fault.rip);
    assert_int_equal(r.fault.address, r.fault.rip);
    assert_output(sb, 1, "");
    vmm_sandbox_destroy(sb);

    /* Off the end of the stack into the guard below it, for two stack sizes. */
    for (uint64_t stack = 2 * MIB; stack <= 4 * MIB; stack += 2 * MIB) {
        vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
        o.stack_size = stack;
        sb = sbx_start(&o, "bigstack", NULL);
        r = run_fault(sb, "bigstack", 14);
        uint64_t stack_lo = o.memory_size - stack;
        if (r.fault.address >= stack_lo || r.fault.address < stack_lo - 2 * MIB)
            fail_msg("stack %llu MiB: #PF at 0x%llx, not in the guard below 0x%llx",
                     (unsigned long long)(stack >> 20), (unsigned long long)r.fault.address,
                     (unsigned long long)stack_lo);
        assert_true(r.fault.error_code & 4); /* in user mode */
        assert_rip_in("bigstack", r.fault.rip);
        assert_output(sb, 2, "recursing\n");
        vmm_sandbox_destroy(sb);
    }
}

/* ---- what the program can reach ---- */

/* One access by the poke program (from its stdin) after a reset. */
static vmm_sandbox_result poke(vmm_sandbox *sb, char op, uint64_t addr)
{
    char in[64];
    snprintf(in, sizeof in, "%c %llx\n", op, (unsigned long long)addr);
    expect_ok(vmm_sandbox_reset(sb), "vmm_sandbox_reset");
    expect_ok(vmm_sandbox_set_stdin(sb, in, strlen(in)), "vmm_sandbox_set_stdin");
    return sbx_run(sb);
}

static void expect_pf(vmm_sandbox *sb, char op, uint64_t addr)
{
    vmm_sandbox_result r = poke(sb, op, addr);
    if (r.outcome != VMM_SANDBOX_FAULT || r.fault.vector != 14 || r.fault.address != addr)
        fail_msg("%c 0x%llx: outcome %d, vector %u at 0x%llx; expected #PF there", op,
                 (unsigned long long)addr, (int)r.outcome, r.fault.vector,
                 (unsigned long long)r.fault.address);
    assert_true(r.fault.error_code & 4); /* from user mode */
    if (op == 'w')
        assert_true(r.fault.error_code & 2);
}

static void test_isolation(void **state)
{
    (void)state;
    vmm_sandbox *sb = sbx_start(NULL, "poke", NULL);
    vmm_sandbox_result r = sbx_run(sb); /* empty stdin */
    assert_exited(&r, 2);
    r = poke(sb, 'w', 0x10000);
    assert_exited(&r, 0);
    assert_output(sb, 1, "survived\n");

    /* The first 64 KiB are the null page and the runtime: never writable.
     * The runtime's system-call path may leave a code page and its stack
     * readable; nothing else there is, and never the null page. */
    unsigned int readable = 0;
    for (uint64_t page = 0; page < 0x10000; page += 0x1000) {
        expect_pf(sb, 'w', page);
        expect_pf(sb, 'w', page + 0xff8);
        r = poke(sb, 'r', page);
        if (r.outcome == VMM_SANDBOX_EXITED) {
            readable++;
            assert_int_not_equal(page, 0);
        } else {
            assert_int_equal(r.outcome, VMM_SANDBOX_FAULT);
            assert_int_equal(r.fault.vector, 14);
            assert_int_equal(r.fault.address, page);
        }
    }
    assert_true(readable <= 2);

    /* The guard below the stack, the end of memory and beyond. */
    uint64_t top = 64 * MIB, stack_lo = top - 2 * MIB;
    expect_pf(sb, 'r', stack_lo - 2 * MIB);
    expect_pf(sb, 'w', stack_lo - 1);
    expect_pf(sb, 'r', top);
    expect_pf(sb, 'w', top + 2 * MIB);
    expect_pf(sb, 'r', 1ull << 39);
    expect_pf(sb, 'r', 0x7ffffffff000ull);
    /* A non-canonical address: #GP. */
    r = poke(sb, 'r', 0x800000000000ull);
    assert_int_equal(r.outcome, VMM_SANDBOX_FAULT);
    assert_int_equal(r.fault.vector, 13);
    /* Just below the guard and just inside the stack are the program's. */
    r = poke(sb, 'w', stack_lo - 2 * MIB - 1);
    assert_exited(&r, 0);
    r = poke(sb, 'w', stack_lo);
    assert_exited(&r, 0);

    /* After all that the sandbox still runs the program as at first. */
    r = poke(sb, 'r', 0x10000);
    assert_exited(&r, 0);
    assert_output(sb, 1, "read 00\nsurvived\n");
    vmm_sandbox_destroy(sb);
}

/* ---- host functions ---- */

struct calls {
    unsigned int upper, add;
};

static int64_t fn_upper(void *opaque, const void *in, size_t in_len, void *out, size_t out_cap)
{
    struct calls *c = opaque;
    c->upper++;
    size_t n = in_len < out_cap ? in_len : out_cap;
    for (size_t i = 0; i < n; i++) {
        char ch = ((const char *)in)[i];
        ((char *)out)[i] = ch >= 'a' && ch <= 'z' ? (char)(ch - 32) : ch;
    }
    return (int64_t)n;
}

static int64_t fn_add(void *opaque, const void *in, size_t in_len, void *out, size_t out_cap)
{
    struct calls *c = opaque;
    c->add++;
    if (in_len != 16 || out_cap < 8)
        return -EDOM;
    int64_t a, b;
    memcpy(&a, in, 8);
    memcpy(&b, (const char *)in + 8, 8);
    int64_t s = a + b;
    memcpy(out, &s, 8);
    return 8;
}

static void test_hostcall(void **state)
{
    (void)state;
    struct calls c = {0};
    vmm_sandbox *sb = sbx_new(NULL);
    expect_ok(vmm_sandbox_register(sb, "upper", fn_upper, &c), "register upper");
    assert_int_equal(vmm_sandbox_register(sb, "upper", fn_add, &c), VMM_EEXIST);
    assert_int_equal(vmm_sandbox_register(sb, "", fn_add, &c), VMM_EINVAL);
    assert_int_equal(vmm_sandbox_register(sb, "has space", fn_add, &c), VMM_EINVAL);
    assert_int_equal(vmm_sandbox_register(sb, "slash/", fn_add, &c), VMM_EINVAL);
    assert_int_equal(vmm_sandbox_register(sb, "add", NULL, &c), VMM_EINVAL);
    assert_int_equal(vmm_sandbox_register(sb, NULL, fn_add, &c), VMM_EINVAL);
    char name[80];
    memset(name, 'n', sizeof name);
    name[64] = 0;
    assert_int_equal(vmm_sandbox_register(sb, name, fn_add, &c), VMM_EINVAL);
    name[63] = 0;
    expect_ok(vmm_sandbox_register(sb, name, fn_add, &c), "register a 63-character name");
    expect_ok(vmm_sandbox_register(sb, "Mixed_Case-1.2", fn_add, &c), "register Mixed_Case-1.2");
    sbx_load(sb, "hostcall", NULL, NULL);
    /* Registration after loading is allowed too. */
    expect_ok(vmm_sandbox_register(sb, "add", fn_add, &c), "register add");
    assert_int_equal(vmm_sandbox_register(sb, "add", fn_add, &c), VMM_EEXIST);

    static const char want[] = "upper: 10 HELLO HOST\n"
                               "add: 8 1234567890100\n"
                               "add short: -33\n"
                               "nosuch: -2\n"
                               "bad input: -14\n"
                               "bad output: -14\n"
                               "too big: -7\n"
                               "long name: -22\n";
    for (int i = 0; i < 2; i++) {
        vmm_sandbox_result r = sbx_run(sb);
        assert_exited(&r, 0);
        assert_output(sb, 1, want);
        assert_true(r.syscalls >= 8);
        /* Refused calls never reach the function. */
        assert_int_equal(c.upper, 1u * (unsigned)(i + 1));
        assert_int_equal(c.add, 2u * (unsigned)(i + 1));
        /* Host functions stay registered across a reset. */
        expect_ok(vmm_sandbox_reset(sb), "vmm_sandbox_reset");
    }
    vmm_sandbox_destroy(sb);
}

/* ---- streams ---- */

static void test_stdin(void **state)
{
    (void)state;
    vmm_sandbox *sb = sbx_start(NULL, "cat", NULL);
    static const char in[] = "Hello, World\nsecond line 123\n";
    expect_ok(vmm_sandbox_set_stdin(sb, in, strlen(in)), "vmm_sandbox_set_stdin");
    for (int i = 0; i < 2; i++) {
        /* Every run reads stdin from the start. */
        vmm_sandbox_result r = sbx_run(sb);
        assert_exited(&r, 0);
        assert_output(sb, 1, "HELLO, WORLD\nSECOND LINE 123\n");
        expect_ok(vmm_sandbox_reset(sb), "vmm_sandbox_reset");
    }

    /* Larger than cat's buffer and than a pipe: 300 KiB. */
    size_t big = 300u << 10;
    char *data = malloc(big);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('a' + i % 26);
    expect_ok(vmm_sandbox_set_stdin(sb, data, big), "vmm_sandbox_set_stdin");
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    size_t len;
    const char *out = vmm_sandbox_output(sb, 1, &len);
    assert_int_equal(len, big);
    for (size_t i = 0; i < big; i++)
        if (out[i] != (char)('A' + i % 26))
            fail_msg("byte %zu is 0x%02x", i, (unsigned char)out[i]);
    free(data);

    /* Empty stdin: read returns 0 at once. */
    expect_ok(vmm_sandbox_reset(sb), "vmm_sandbox_reset");
    expect_ok(vmm_sandbox_set_stdin(sb, NULL, 0), "vmm_sandbox_set_stdin");
    r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, "");
    assert_int_equal(vmm_sandbox_set_stdin(sb, NULL, 5), VMM_EINVAL);
    assert_int_equal(vmm_sandbox_set_stdin(NULL, "x", 1), VMM_EINVAL);
    vmm_sandbox_destroy(sb);
}

static void test_stdout_stderr(void **state)
{
    (void)state;
    vmm_sandbox *sb = sbx_start(NULL, "stdio", NULL);
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, "out 1\nout 2\n");
    assert_output(sb, 2, "err 1\nerr 2\n");
    vmm_sandbox_destroy(sb);
}

static void test_passthrough(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    char tmpl[] = "/tmp/libvmm-sandbox-XXXXXX";
    int tmp = mkstemp(tmpl);
    assert_true(tmp >= 0);
    unlink(tmpl);
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.stdout_fd = p[1];
    o.stderr_fd = tmp;
    vmm_sandbox *sb = sbx_start(&o, "stdio", NULL);
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    size_t len = 5;
    assert_null(vmm_sandbox_output(sb, 1, &len));
    assert_int_equal(len, 0);
    assert_null(vmm_sandbox_output(sb, 2, &len));
    assert_int_equal(len, 0);
    vmm_sandbox_destroy(sb);
    /* The sandbox wrote to the descriptors but did not close them. */
    assert_true(fcntl(p[1], F_GETFD) >= 0);
    assert_true(fcntl(tmp, F_GETFD) >= 0);
    close(p[1]);
    char buf[64];
    ssize_t n = read(p[0], buf, sizeof buf);
    assert_int_equal(n, 12);
    assert_memory_equal(buf, "out 1\nout 2\n", 12);
    assert_int_equal(read(p[0], buf, sizeof buf), 0);
    close(p[0]);
    assert_int_equal(lseek(tmp, 0, SEEK_SET), 0);
    n = read(tmp, buf, sizeof buf);
    assert_int_equal(n, 12);
    assert_memory_equal(buf, "err 1\nerr 2\n", 12);

    /* No output limit: 3 MiB through a file. */
    assert_int_equal(ftruncate(tmp, 0), 0);
    assert_int_equal(lseek(tmp, 0, SEEK_SET), 0);
    size_t big = 3 * MIB;
    char *data = malloc(big);
    assert_non_null(data);
    memset(data, 'q', big);
    o.max_output = 0;
    o.stdout_fd = tmp;
    sb = sbx_start(&o, "cat", NULL);
    expect_ok(vmm_sandbox_set_stdin(sb, data, big), "vmm_sandbox_set_stdin");
    r = sbx_run(sb);
    assert_exited(&r, 0);
    vmm_sandbox_destroy(sb);
    struct stat st;
    assert_int_equal(fstat(tmp, &st), 0);
    assert_int_equal(st.st_size, (off_t)big);
    char last;
    assert_int_equal(pread(tmp, &last, 1, (off_t)big - 1), 1);
    assert_int_equal(last, 'Q');
    free(data);
    o.max_output = 1 * MIB;

    /* One stream passed through, the other captured. */
    assert_int_equal(ftruncate(tmp, 0), 0);
    assert_int_equal(lseek(tmp, 0, SEEK_SET), 0);
    o.stdout_fd = -1;
    sb = sbx_start(&o, "stdio", NULL);
    r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, "out 1\nout 2\n");
    assert_null(vmm_sandbox_output(sb, 2, &len));
    vmm_sandbox_destroy(sb);
    assert_int_equal(lseek(tmp, 0, SEEK_SET), 0);
    n = read(tmp, buf, sizeof buf);
    assert_int_equal(n, 12);
    assert_memory_equal(buf, "err 1\nerr 2\n", 12);
    close(tmp);
}

/* ---- system-call callbacks ---- */

static int fake_ppid(void *opaque, vmm_sandbox *sb, vmm_sandbox_syscall *call)
{
    (void)sb;
    unsigned int *n = opaque;
    ++*n;
    if (call->nr != NR_GETPPID)
        return VMM_SANDBOX_DEFAULT;
    call->ret = 4242;
    return VMM_SANDBOX_HANDLED;
}

static int kill_write(void *opaque, vmm_sandbox *sb, vmm_sandbox_syscall *call)
{
    (void)sb;
    int *how = opaque;
    if (call->nr == NR_WRITE || call->nr == NR_WRITEV)
        return *how;
    return VMM_SANDBOX_DEFAULT;
}

/* Serves read(0, ...) itself, writing into the program's buffer. */
static int feed_stdin(void *opaque, vmm_sandbox *sb, vmm_sandbox_syscall *call)
{
    int *reads = opaque;
    if (call->nr != NR_READ || call->args[0] != 0)
        return VMM_SANDBOX_DEFAULT;
    if ((*reads)++ > 0) {
        call->ret = 0;
        return VMM_SANDBOX_HANDLED;
    }
    if (call->args[2] < 3 || vmm_sandbox_write(sb, call->args[1], "fed", 3) != 0)
        return VMM_SANDBOX_KILL;
    char back[3];
    if (vmm_sandbox_read(sb, call->args[1], back, 3) != 0 || memcmp(back, "fed", 3) != 0)
        return VMM_SANDBOX_KILL;
    call->ret = 3;
    return VMM_SANDBOX_HANDLED;
}

static void test_syscall_callback(void **state)
{
    (void)state;
    unsigned int n = 0;
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.syscall = fake_ppid;
    o.syscall_opaque = &n;
    vmm_sandbox *sb = sbx_start(&o, "ppid", NULL);
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, "ppid 4242\n");
    assert_int_equal(n, r.syscalls);
    vmm_sandbox_destroy(sb);

    /* Without it the default policy answers (0). */
    sb = sbx_start(NULL, "ppid", NULL);
    r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, "ppid 0\n");
    vmm_sandbox_destroy(sb);

    /* KILL, or any value that is not an action, ends the run. */
    static const int hows[] = {VMM_SANDBOX_KILL, 7, -1};
    for (size_t i = 0; i < sizeof hows / sizeof hows[0]; i++) {
        int how = hows[i];
        o.syscall = kill_write;
        o.syscall_opaque = &how;
        sb = sbx_start(&o, "hello", NULL);
        r = sbx_run(sb);
        assert_int_equal(r.outcome, VMM_SANDBOX_KILLED);
        assert_output(sb, 1, "");
        vmm_sandbox_destroy(sb);
    }

    int reads = 0;
    o.syscall = feed_stdin;
    o.syscall_opaque = &reads;
    sb = sbx_start(&o, "cat", NULL);
    expect_ok(vmm_sandbox_set_stdin(sb, "ignored", 7), "vmm_sandbox_set_stdin");
    r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, "FED");
    assert_int_equal(reads, 2);
    vmm_sandbox_destroy(sb);
}

static void test_read_write_bounds(void **state)
{
    (void)state;
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.memory_size = 16 * MIB;
    vmm_sandbox *sb = sbx_start(&o, "hello", NULL);
    uint64_t top = o.memory_size;
    uint8_t b[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t orig[8], back[8];
    /* 0x10000 is below the program (linked at 4 MiB) and unused by it. */
    expect_ok(vmm_sandbox_write(sb, 0x10000, b, 8), "write at 0x10000");
    expect_ok(vmm_sandbox_read(sb, 0x10000, back, 8), "read at 0x10000");
    assert_memory_equal(back, b, 8);
    /* The top 8 bytes end the stack's strings: put them back afterwards. */
    expect_ok(vmm_sandbox_read(sb, top - 8, orig, 8), "read at the top");
    expect_ok(vmm_sandbox_write(sb, top - 8, b, 8), "write at the top");
    expect_ok(vmm_sandbox_read(sb, top - 8, back, 8), "read at the top");
    assert_memory_equal(back, b, 8);
    expect_ok(vmm_sandbox_write(sb, top - 8, orig, 8), "write at the top");
    static const uint64_t bad[] = {0, 0x1000, 0xffff, 0x10000 - 4, 0x10000 - 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(vmm_sandbox_read(sb, bad[i], back, 4), VMM_EFAULT);
        assert_int_equal(vmm_sandbox_write(sb, bad[i], b, 4), VMM_EFAULT);
    }
    static const uint64_t past[] = {16 * MIB - 4, 16 * MIB, 16 * MIB + 4096, 1ull << 40,
                                    UINT64_MAX - 2};
    for (size_t i = 0; i < sizeof past / sizeof past[0]; i++) {
        assert_int_equal(vmm_sandbox_read(sb, past[i], back, 8), VMM_EFAULT);
        assert_int_equal(vmm_sandbox_write(sb, past[i], b, 8), VMM_EFAULT);
    }
    assert_int_equal(vmm_sandbox_read(sb, 0x10000, NULL, 4), VMM_EINVAL);
    assert_int_equal(vmm_sandbox_write(sb, 0x10000, NULL, 4), VMM_EINVAL);
    /* Refused accesses changed nothing the program depends on. */
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, HELLO);
    vmm_sandbox_destroy(sb);
}

/* ---- stop from another thread ---- */

struct stopper {
    vmm_sandbox *sb;
    unsigned int delay_ms;
};

static void *stop_later(void *arg)
{
    struct stopper *s = arg;
    struct timespec d = {0, (long)s->delay_ms * 1000000L};
    nanosleep(&d, NULL);
    vmm_sandbox_stop(s->sb);
    return NULL;
}

static void test_stop(void **state)
{
    (void)state;
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.time_budget_ns = 5000000000ull; /* a safety net, far beyond the stop */
    vmm_sandbox *sb = sbx_start(&o, "loop", NULL);
    struct stopper s = {sb, 150};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_later, &s), 0);
    uint64_t t0 = now_ns();
    vmm_sandbox_result r = sbx_run(sb);
    uint64_t ns = now_ns() - t0;
    pthread_join(t, NULL);
    assert_int_equal(r.outcome, VMM_SANDBOX_STOPPED);
    assert_true(ns >= 100000000ull && ns < 2000000000ull);
    assert_output(sb, 1, "looping\n");

    /* A stop with no run in progress stops the next run at once. */
    expect_ok(vmm_sandbox_reset(sb), "vmm_sandbox_reset");
    expect_ok(vmm_sandbox_stop(sb), "vmm_sandbox_stop");
    t0 = now_ns();
    r = sbx_run(sb);
    ns = now_ns() - t0;
    assert_int_equal(r.outcome, VMM_SANDBOX_STOPPED);
    assert_true(ns < 1000000000ull);
    vmm_sandbox_destroy(sb);

    /* ...and only that one. */
    o.time_budget_ns = 200000000;
    sb = sbx_start(&o, "loop", NULL);
    expect_ok(vmm_sandbox_stop(sb), "vmm_sandbox_stop");
    r = sbx_run(sb);
    assert_int_equal(r.outcome, VMM_SANDBOX_STOPPED);
    expect_ok(vmm_sandbox_reset(sb), "vmm_sandbox_reset");
    r = sbx_run(sb);
    assert_int_equal(r.outcome, VMM_SANDBOX_TIMEOUT);
    assert_output(sb, 1, "looping\n");
    vmm_sandbox_destroy(sb);
    assert_int_equal(vmm_sandbox_stop(NULL), VMM_EINVAL);
}

/* ---- states and refusals ---- */

static void test_states(void **state)
{
    (void)state;
    vmm_sandbox_result r;
    vmm_sandbox *sb = sbx_new(NULL);
    assert_int_equal(vmm_sandbox_run(sb, &r), VMM_ESTATE);
    assert_int_equal(vmm_sandbox_reset(sb), VMM_ESTATE);
    sbx_load(sb, "hello", NULL, NULL);
    assert_int_equal(vmm_sandbox_load(sb, prog("hello"), NULL, NULL), VMM_ESTATE);
    assert_int_equal(vmm_sandbox_run(sb, NULL), VMM_EINVAL);
    r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_int_equal(vmm_sandbox_run(sb, &r), VMM_ESTATE);
    vmm_sandbox_destroy(sb);

    /* One-shot: runs once, never resets. */
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.flags = VMM_SANDBOX_ONESHOT;
    sb = sbx_start(&o, "hello", NULL);
    r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, HELLO);
    assert_int_equal(vmm_sandbox_reset(sb), VMM_ESTATE);
    assert_int_equal(vmm_sandbox_run(sb, &r), VMM_ESTATE);
    vmm_sandbox_destroy(sb);

    vmm_sandbox_destroy(NULL);
    assert_int_equal(vmm_sandbox_run(NULL, &r), VMM_EINVAL);
    assert_int_equal(vmm_sandbox_reset(NULL), VMM_EINVAL);
    assert_null(vmm_sandbox_vm(NULL));
}

static void expect_load_refused(const char *path, int code, const char *what)
{
    vmm_sandbox *sb = sbx_new(NULL);
    int rc = vmm_sandbox_load(sb, path, NULL, NULL);
    if (rc != code)
        fail_msg("%s: %d (%s), expected %d", path, rc, rc ? vmm_error_last()->message : "loaded",
                 code);
    if (what && !strstr(vmm_error_last()->message, what))
        fail_msg("%s: message \"%s\" lacks \"%s\"", path, vmm_error_last()->message, what);
    /* Nothing runs after a refused load. */
    vmm_sandbox_result r;
    assert_int_equal(vmm_sandbox_run(sb, &r), VMM_ESTATE);
    vmm_sandbox_destroy(sb);
}

static void test_load_errors(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/libvmm-sandbox-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    /* Longer than an ELF header, so that the magic is what is wrong. */
    static const char script[] = "#!/bin/sh\n# A shell script is not a program the sandbox "
                                 "runs.\necho not an ELF file\n";
    assert_int_equal(write(fd, script, sizeof script - 1), (ssize_t)(sizeof script - 1));
    close(fd);
    expect_load_refused(tmpl, VMM_EINVAL, "not an ELF file");
    unlink(tmpl);

    expect_load_refused(prog("hello_dyn"), VMM_EINVAL, "dynamically linked");
    expect_load_refused(prog("no-such-program"), VMM_ENOENT, NULL);
    expect_load_refused("/", VMM_EINVAL, NULL);

    /* From memory: a truncated program, and bad arguments. */
    size_t len;
    uint8_t *elf = read_file(prog("hello"), &len);
    static const char *const argv[] = {"hello", NULL};
    vmm_sandbox *sb = sbx_new(NULL);
    assert_int_equal(vmm_sandbox_load_buffer(sb, elf, 100, argv, NULL), VMM_EINVAL);
    vmm_sandbox_destroy(sb);
    sb = sbx_new(NULL);
    assert_int_equal(vmm_sandbox_load_buffer(sb, elf, len, NULL, NULL), VMM_EINVAL);
    assert_int_equal(vmm_sandbox_load_buffer(sb, NULL, len, argv, NULL), VMM_EINVAL);
    /* The whole file loads from memory; the caller's copy can go at once. */
    uint8_t *copy = malloc(len);
    assert_non_null(copy);
    memcpy(copy, elf, len);
    expect_ok(vmm_sandbox_load_buffer(sb, copy, len, argv, NULL), "vmm_sandbox_load_buffer");
    memset(copy, 0, len);
    free(copy);
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    assert_output(sb, 1, HELLO);
    assert_int_equal(vmm_sandbox_load_buffer(sb, elf, len, argv, NULL), VMM_ESTATE);
    vmm_sandbox_destroy(sb);

    /* Too many arguments. */
    const char **many = calloc(5000, sizeof *many);
    assert_non_null(many);
    for (int i = 0; i < 4999; i++)
        many[i] = "arg";
    sb = sbx_new(NULL);
    assert_int_equal(vmm_sandbox_load_buffer(sb, elf, len, many, NULL), VMM_ERANGE);
    vmm_sandbox_destroy(sb);
    free(many);

    /* A program linked at 4 MiB cannot fit under an 8 MiB sandbox's stack
     * and guard; 10 MiB is enough. */
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.memory_size = 8 * MIB;
    sb = sbx_new(&o);
    assert_int_equal(vmm_sandbox_load_buffer(sb, elf, len, argv, NULL), VMM_ENOMEM);
    vmm_sandbox_destroy(sb);
    o.memory_size = 10 * MIB;
    sb = sbx_new(&o);
    expect_ok(vmm_sandbox_load_buffer(sb, elf, len, argv, NULL), "load into 10 MiB");
    r = sbx_run(sb);
    assert_exited(&r, 0);
    vmm_sandbox_destroy(sb);
    free(elf);
}

static void test_options(void **state)
{
    (void)state;
    vmm_sandbox_options o;
    memset(&o, 0x5a, sizeof o);
    expect_ok(vmm_sandbox_options_init(&o, VMM_SANDBOX_OPTIONS_VERSION), "options_init");
    assert_int_equal(o.version, VMM_SANDBOX_OPTIONS_VERSION);
    assert_int_equal(o.flags, 0);
    assert_int_equal(o.memory_size, 64 * MIB);
    assert_int_equal(o.stack_size, 2 * MIB);
    assert_int_equal(o.time_budget_ns, 0);
    assert_int_equal(o.max_output, 1 * MIB);
    assert_int_equal(o.stdout_fd, -1);
    assert_int_equal(o.stderr_fd, -1);
    assert_int_equal(o.max_call_bytes, 1 * MIB);
    assert_null(o.syscall);
    assert_null(o.syscall_opaque);
    assert_int_equal(vmm_sandbox_options_init(&o, 99), VMM_EVERSION);

    static const struct {
        uint64_t memory, stack;
        unsigned int flags;
    } bad[] = {
        {65 * MIB, 2 * MIB, 0},        /* not a multiple of 2 MiB */
        {64 * MIB + 4096, 2 * MIB, 0}, /* likewise */
        {4 * MIB, 2 * MIB, 0},         /* under 8 MiB */
        {6 * MIB, 2 * MIB, 0},         /* likewise */
        {0, 2 * MIB, 0},               /* no memory */
        {4096 * MIB, 2 * MIB, 0},      /* over 3 GiB */
        {64 * MIB, 0, 0},              /* no stack */
        {64 * MIB, 3 * MIB, 0},        /* not a multiple of 2 MiB */
        {64 * MIB, 1 * MIB, 0},        /* under 2 MiB */
        {64 * MIB, 64 * MIB, 0},       /* the whole memory */
        {64 * MIB, 2 * MIB, 0x80},     /* unknown flag */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vmm_sandbox_options_init(&o, VMM_SANDBOX_OPTIONS_VERSION);
        o.memory_size = bad[i].memory;
        o.stack_size = bad[i].stack;
        o.flags = bad[i].flags;
        vmm_sandbox *sb = (vmm_sandbox *)&o;
        int rc = vmm_sandbox_create(&sb, &o);
        if (rc != VMM_EINVAL)
            fail_msg("case %zu (memory %llu, stack %llu, flags 0x%x): %d, expected VMM_EINVAL", i,
                     (unsigned long long)bad[i].memory, (unsigned long long)bad[i].stack,
                     bad[i].flags, rc);
        assert_null(sb);
    }
    vmm_sandbox_options_init(&o, VMM_SANDBOX_OPTIONS_VERSION);
    o.version = 99;
    vmm_sandbox *sb = NULL;
    assert_int_equal(vmm_sandbox_create(&sb, &o), VMM_EVERSION);
    assert_int_equal(vmm_sandbox_create(NULL, NULL), VMM_EINVAL);

    /* The smallest and a large memory size are accepted. */
    vmm_sandbox_options_init(&o, VMM_SANDBOX_OPTIONS_VERSION);
    o.memory_size = 8 * MIB;
    sb = sbx_new(&o);
    vmm_sandbox_destroy(sb);
    o.memory_size = 256 * MIB;
    o.stack_size = 8 * MIB;
    sb = sbx_start(&o, "hello", NULL);
    vmm_sandbox_result r = sbx_run(sb);
    assert_exited(&r, 0);
    vmm_sandbox_destroy(sb);
}

/* ---- many runs ---- */

static void test_many_resets(void **state)
{
    (void)state;
    enum { RUNS = 1000, WARM = 50 };
    rss_growth_test_begin();
    vmm_sandbox *sb = sbx_start(NULL, "hello", NULL);
    long rss0 = 0;
    int fds0 = 0;
    uint64_t t0 = 0;
    for (int i = 0; i < RUNS; i++) {
        if (i == WARM) {
            rss0 = rss_kib();
            fds0 = count_open_fds();
            t0 = now_ns();
        }
        if (i > 0 && vmm_sandbox_reset(sb) != 0)
            fail_msg("reset %d: %s", i, vmm_error_last()->message);
        vmm_sandbox_result r;
        if (vmm_sandbox_run(sb, &r) != 0)
            fail_msg("run %d: %s", i, vmm_error_last()->message);
        if (r.outcome != VMM_SANDBOX_EXITED || r.status != 0)
            fail_msg("run %d: outcome %d status %d", i, (int)r.outcome, r.status);
        size_t len;
        const char *out = vmm_sandbox_output(sb, 1, &len);
        if (len != strlen(HELLO) || memcmp(out, HELLO, len) != 0)
            fail_msg("run %d: output \"%.*s\"", i, (int)len, out ? out : "");
    }
    uint64_t ns = now_ns() - t0;
    long rss1 = rss_kib();
    int fds1 = count_open_fds();
    fprintf(stderr, "%d reset+run cycles: %.1f us each; RSS %ld -> %ld KiB\n", RUNS - WARM,
            (double)ns / 1e3 / (RUNS - WARM), rss0, rss1);
    assert_int_equal(fds1, fds0);
    assert_true(rss1 < rss0 + 2048);
    vmm_sandbox_destroy(sb);

    /* Creating and destroying sandboxes leaks no descriptor. */
    int fds2 = count_open_fds();
    for (int i = 0; i < 20; i++) {
        sb = sbx_start(NULL, i % 2 ? "hello" : "hello_pie", NULL);
        if (i % 4 == 0) {
            vmm_sandbox_result r = sbx_run(sb);
            assert_exited(&r, 0);
        }
        vmm_sandbox_destroy(sb);
    }
    assert_int_equal(count_open_fds(), fds2);
}

int main(void)
{
    require_kvm("test_sandbox");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_hello_pie),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_compute),
        cmocka_unit_test(test_many_syscalls),
        cmocka_unit_test(test_printf_float_and_heap),
        cmocka_unit_test(test_clock_and_random),
        cmocka_unit_test(test_denied),
        cmocka_unit_test(test_timeout_and_reset),
        cmocka_unit_test(test_membomb),
        cmocka_unit_test(test_output_limit),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_isolation),
        cmocka_unit_test(test_hostcall),
        cmocka_unit_test(test_stdin),
        cmocka_unit_test(test_stdout_stderr),
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_syscall_callback),
        cmocka_unit_test(test_read_write_bounds),
        cmocka_unit_test(test_stop),
        cmocka_unit_test(test_states),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_many_resets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
