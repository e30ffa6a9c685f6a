/* SPDX-License-Identifier: MIT */
/* A complete coverage-guided fuzzer over libvmm's fuzz harness: the target
 * (target.c, a CPL 3 guest with clang coverage counters) runs in a VM; each
 * input is mutated from the corpus, run, and kept if it reached a coverage
 * counter bucket never seen before. Stops at the first crash, printing it and
 * writing the input to a file.
 *
 *   fuzz_example [--seconds N] [--seed N] [--crash FILE] TARGET.elf
 *
 * Exit status: 0 a crash was found, 1 none within the time, 2 usage or set-up
 * error, 77 /dev/kvm unusable. Uses only the public API. */
#include <errno.h>
#include <libvmm/vmm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "target.h"

#define MAX_CORPUS 4096
#define MAX_LEN    256

struct entry {
    uint8_t data[MAX_LEN];
    size_t len;
};

static struct entry corpus[MAX_CORPUS];
static size_t ncorpus;
static uint8_t seen[COVERAGE_SIZE]; /* per counter: the buckets seen so far */
static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t below(size_t n)
{
    return (size_t)(rnd() % n);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A counter value as one bit per range (AFL's buckets: 1, 2, 3, 4-7, 8-15,
 * 16-31, 32-127, 128+). */
static uint8_t bucket(uint8_t c)
{
    if (c == 0)
        return 0;
    if (c <= 3)
        return (uint8_t)(1u << (c - 1));
    if (c <= 7)
        return 8;
    if (c <= 15)
        return 16;
    if (c <= 31)
        return 32;
    if (c <= 127)
        return 64;
    return 128;
}

/* Record the run's coverage; true if it reached something new. */
static bool new_coverage(const uint8_t *cov, size_t n, size_t *features)
{
    bool fresh = false;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = bucket(cov[i]);
        if (b & ~seen[i]) {
            seen[i] |= b;
            fresh = true;
        }
    }
    if (fresh) {
        *features = 0;
        for (size_t i = 0; i < n; i++)
            *features += (size_t)__builtin_popcount(seen[i]);
    }
    return fresh;
}

static void mutate(struct entry *e)
{
    static const uint8_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, '!', 'a', 'x'};
    int rounds = 1 + (int)below(4);
    for (int r = 0; r < rounds; r++) {
        switch (below(6)) {
        case 0: /* set a random byte */
            if (e->len)
                e->data[below(e->len)] = (uint8_t)rnd();
            break;
        case 1: /* flip a bit */
            if (e->len)
                e->data[below(e->len)] ^= (uint8_t)(1u << below(8));
            break;
        case 2: /* insert a random byte */
            if (e->len < MAX_LEN) {
                size_t at = below(e->len + 1);
                memmove(e->data + at + 1, e->data + at, e->len - at);
                e->data[at] = (uint8_t)rnd();
                e->len++;
            }
            break;
        case 3: /* delete a byte */
            if (e->len) {
                size_t at = below(e->len);
                memmove(e->data + at, e->data + at + 1, e->len - at - 1);
                e->len--;
            }
            break;
        case 4: /* an interesting value */
            if (e->len)
                e->data[below(e->len)] = interesting[below(sizeof interesting)];
            break;
        default: /* append a few random bytes */
            for (size_t k = 1 + below(8); k && e->len < MAX_LEN; k--)
                e->data[e->len++] = (uint8_t)rnd();
            break;
        }
    }
}

static const char *vector_name(uint32_t v)
{
    static const char *const names[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
                                        "#DF", "?",   "#TS", "#NP", "#SS", "#GP", "#PF"};
    if (v == VMM_FUZZ_VECTOR_SHUTDOWN)
        return "triple fault";
    return v < sizeof names / sizeof names[0] ? names[v] : "exception";
}

static int fail(const char *what)
{
    fprintf(stderr, "fuzz_example: %s: %s\n", what, vmm_error_last()->message);
    return 2;
}

/* The VM the target runs in: RAM, a debug-exit register, the ELF, one vCPU
 * at CPL 3 with exceptions reported. */
static int build_vm(const char *target, vmm_vm **vm_out)
{
    vmm_vm *vm;
    vmm_vcpu *vcpu;
    uint64_t entry;
    char dx[64];
    snprintf(dx, sizeof dx, "{\"mmio\": %u, \"size\": 4}", DEBUG_EXIT_ADDR);
    if (vmm_vm_create(&vm, NULL) < 0)
        return vmm_error_last()->code == VMM_ENODEV || vmm_error_last()->code == VMM_EPERM
                   ? 77
                   : fail("vmm_vm_create");
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.cpl = 3;
    o.stack = STACK_TOP;
    o.exceptions = VMM_X86_EXCEPTIONS_REPORT;
    if (vmm_mem_map(vm, 0, RAM_SIZE, NULL, 0) < 0 ||
        vmm_device_attach(NULL, vm, "debug-exit", dx) < 0 || vmm_boot_elf(vm, target, &entry) < 0 ||
        vmm_vcpu_create(&vcpu, vm, 0) < 0) {
        int rc = fail("building the VM");
        vmm_vm_destroy(vm);
        return rc;
    }
    o.entry = entry;
    if (vmm_x86_setup(vcpu, &o) < 0) {
        int rc = fail("vmm_x86_setup");
        vmm_vm_destroy(vm);
        return rc;
    }
    *vm_out = vm;
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = 60;
    uint64_t seed = (uint64_t)time(NULL);
    const char *crash_file = "crash.bin", *target = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--crash") && i + 1 < argc)
            crash_file = argv[++i];
        else if (argv[i][0] != '-' && !target)
            target = argv[i];
        else {
            fprintf(stderr,
                    "usage: fuzz_example [--seconds N] [--seed N] [--crash FILE] TARGET.elf\n");
            return 2;
        }
    }
    if (!target) {
        fprintf(stderr, "usage: fuzz_example [--seconds N] [--seed N] [--crash FILE] TARGET.elf\n");
        return 2;
    }
    rng_state = seed ? seed : 1;

    vmm_vm *vm = NULL;
    int rc = build_vm(target, &vm);
    if (rc == 77)
        fprintf(stderr, "fuzz_example: SKIP: /dev/kvm unusable: %s\n", vmm_error_last()->message);
    if (rc)
        return rc;
    vmm_fuzz_options fo = VMM_FUZZ_OPTIONS_INIT;
    fo.input_addr = INPUT_ADDR;
    fo.input_size = 8 + INPUT_MAX;
    fo.coverage_addr = COVERAGE_ADDR;
    fo.coverage_size = COVERAGE_SIZE;
    fo.time_budget_ns = 100000000;        /* 100 ms */
    fo.flags = VMM_FUZZ_KEEP_PAGE_TABLES; /* the target never writes its page tables */
    vmm_fuzz *f;
    if (vmm_fuzz_create(&f, vm, &fo) < 0) {
        rc = fail("vmm_fuzz_create");
        vmm_vm_destroy(vm);
        return rc;
    }
    printf("fuzzing %s for at most %.0f s, seed %llu\n", target, seconds, (unsigned long long)seed);

    corpus[0].len = 0; /* start from the empty input */
    ncorpus = 1;
    size_t features = 0;
    uint64_t execs = 0;
    double t0 = now_s(), last = t0;
    bool found = false;
    struct entry cur;
    vmm_fuzz_result res;
    while (!found && now_s() - t0 < seconds) {
        cur = corpus[below(ncorpus)];
        mutate(&cur);
        if (vmm_fuzz_run(f, cur.data, cur.len, &res) < 0) {
            rc = fail("vmm_fuzz_run");
            break;
        }
        execs++;
        size_t n;
        const uint8_t *cov = vmm_fuzz_coverage(f, &n);
        if (res.outcome == VMM_FUZZ_CRASH) {
            found = true;
        } else if (res.outcome != VMM_FUZZ_OK) {
            printf("run %llu: outcome %d (status %d, exit %s)\n", (unsigned long long)execs,
                   (int)res.outcome, res.status, vmm_exit_reason_name(res.exit.reason));
        }
        if (new_coverage(cov, n, &features) && ncorpus < MAX_CORPUS)
            corpus[ncorpus++] = cur;
        double t = now_s();
        if (t - last >= 1.0) {
            printf("#%llu  %.0f execs/s  corpus %zu  features %zu\n", (unsigned long long)execs,
                   (double)execs / (t - t0), ncorpus, features);
            fflush(stdout);
            last = t;
        }
    }
    double elapsed = now_s() - t0;
    vmm_fuzz_stats st;
    vmm_fuzz_get_stats(f, &st);
    printf("%llu execs in %.2f s: %.0f execs/s (reset %.1f us, run %.1f us on average); corpus "
           "%zu, features %zu\n",
           (unsigned long long)execs, elapsed, (double)execs / elapsed,
           st.runs ? (double)st.reset_ns / 1e3 / (double)st.runs : 0.0,
           st.runs ? (double)st.run_ns / 1e3 / (double)st.runs : 0.0, ncorpus, features);
    if (found) {
        printf("CRASH: %s (vector %u, error code 0x%x) at rip 0x%llx, address 0x%llx\ninput:",
               vector_name(res.vector), res.vector, res.error_code, (unsigned long long)res.rip,
               (unsigned long long)res.address);
        for (size_t i = 0; i < cur.len; i++)
            printf(" %02x", cur.data[i]);
        printf("\n");
        FILE *out = fopen(crash_file, "wb");
        if (out && fwrite(cur.data, 1, cur.len, out) == cur.len && fclose(out) == 0)
            printf("written to %s\n", crash_file);
        else
            fprintf(stderr, "fuzz_example: cannot write %s: %s\n", crash_file, strerror(errno));
    } else if (rc == 0) {
        printf("no crash found in %.0f s\n", seconds);
        rc = 1;
    }
    vmm_fuzz_destroy(f);
    vmm_vm_destroy(vm);
    return found ? 0 : rc;
}
