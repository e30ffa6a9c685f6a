/* SPDX-License-Identifier: MIT */
/* bench_sandbox: static musl programs in a libvmm sandbox against the same
 * programs run natively (fork + exec + wait), in interleaved rounds.
 *
 *   RATIO  sandbox_compute <v>   compute program: sandbox reset + run / native run
 *   RATIO  sandbox_syscall <v>   a getppid() loop: sandbox reset + run / native run
 *   DETAIL ...                   absolute times, per-call cost, cold start, warm call
 *
 * Both sides start the program and run it to its exit: natively that is
 * fork, exec and wait; in the sandbox a reset to the post-load snapshot and
 * vmm_sandbox_run(). Loading the program into the sandbox is measured apart
 * (cold start). The programs come from tests/sandbox/, built with musl-gcc. */
#define BENCH_NAME "bench_sandbox"
#include "bench_util.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROG(name) LIBVMM_SANDBOX_DIR "/" name

/* Run a program natively with stdout on /dev/null; seconds of wall time. */
static double native_run(const char *const *argv)
{
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed");
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        die("%s did not exit with status 0 natively", argv[0]);
    return now_s() - t0;
}

static vmm_sandbox *sandbox_new(const char *const *argv)
{
    vmm_sandbox_options o = VMM_SANDBOX_OPTIONS_INIT;
    o.time_budget_ns = 60ull * 1000000000ull;
    vmm_sandbox *sb;
    vmm_check(vmm_sandbox_create(&sb, &o), "vmm_sandbox_create");
    vmm_check(vmm_sandbox_load(sb, argv[0], argv, NULL), "vmm_sandbox_load");
    return sb;
}

/* Reset (unless fresh) and run to a clean exit; seconds of wall time. */
static double sandbox_run(vmm_sandbox *sb, bool reset, vmm_sandbox_result *res)
{
    double t0 = now_s();
    if (reset)
        vmm_check(vmm_sandbox_reset(sb), "vmm_sandbox_reset");
    vmm_check(vmm_sandbox_run(sb, res), "vmm_sandbox_run");
    double t = now_s() - t0;
    if (res->outcome != VMM_SANDBOX_EXITED || res->status != 0)
        die("the program did not exit with status 0 in the sandbox (outcome %d)", res->outcome);
    return t;
}

/* The same program both ways, interleaved; the sandbox's output is checked
 * against the expected line. */
static void compare(const char *name, const char *const *argv, const char *expect, int rounds,
                    double *sandbox_med, uint64_t *syscalls)
{
    vmm_sandbox *sb = sandbox_new(argv);
    double *lib = xmalloc((size_t)rounds * sizeof *lib),
           *ref = xmalloc((size_t)rounds * sizeof *ref);
    vmm_sandbox_result res;
    for (int i = 0; i < rounds; i++) {
        ref[i] = native_run(argv);
        lib[i] = sandbox_run(sb, i > 0, &res);
        size_t len;
        const char *out = vmm_sandbox_output(sb, 1, &len);
        if (!out || len < strlen(expect) || memcmp(out, expect, strlen(expect)) != 0)
            die("%s: unexpected output in the sandbox: %.*s", name, (int)len, out ? out : "");
    }
    double *r = xmalloc((size_t)rounds * sizeof *r);
    for (int i = 0; i < rounds; i++)
        r[i] = lib[i] / ref[i];
    ratio_report(true, name, r, rounds);
    free(r);
    printf("DETAIL %s_sandbox_s %.4f s\n", name, median(lib, rounds));
    printf("DETAIL %s_native_s %.4f s\n", name, median(ref, rounds));
    *sandbox_med = median(lib, rounds);
    *syscalls = res.syscalls;
    free(lib);
    free(ref);
    vmm_sandbox_destroy(sb);
}

int main(int argc, char **argv)
{
    bool quick;
    vmm_host_info info;
    int rc = bench_begin(argc, argv, &quick, &info);
    if (rc >= 0)
        return rc;
    int rounds = quick ? 1 : 7;

    /* Compute: the program prints its results first; the scale makes it run
     * for a few tenths of a second natively. */
    const char *compute[] = {PROG("compute"), quick ? "1" : "4", NULL};
    double t;
    uint64_t calls;
    compare("sandbox_compute", compute, "rounds: ", rounds, &t, &calls);
    printf("DETAIL sandbox_compute_syscalls %llu count\n", (unsigned long long)calls);

    /* System calls: n getppid() calls; a run with none gives the per-call cost. */
    const char *n_calls = quick ? "2000" : "20000";
    const char *sys[] = {PROG("syscalls"), n_calls, NULL};
    char expect[64];
    snprintf(expect, sizeof expect, "getppid calls: %s\n", n_calls);
    double t_n;
    compare("sandbox_syscall", sys, expect, rounds, &t_n, &calls);
    const char *sys0[] = {PROG("syscalls"), "0", NULL};
    vmm_sandbox *sb0 = sandbox_new(sys0);
    double *z = xmalloc((size_t)rounds * sizeof *z);
    vmm_sandbox_result res;
    for (int i = 0; i < rounds; i++)
        z[i] = sandbox_run(sb0, i > 0, &res);
    double t_0 = median(z, rounds);
    vmm_sandbox_destroy(sb0);
    printf("DETAIL sandbox_syscall_per_call_us %.2f us\n",
           (t_n - t_0) / (double)strtoul(n_calls, NULL, 10) * 1e6);

    /* Cold start: create, load hello, run it to its exit, destroy. Warm call:
     * reset and run. */
    const char *hello[] = {PROG("hello"), NULL};
    int n = quick ? 3 : 50;
    double *cold = xmalloc((size_t)n * sizeof *cold), *warm = xmalloc((size_t)n * sizeof *warm);
    for (int i = 0; i < n; i++) {
        double t0 = now_s();
        vmm_sandbox *sb = sandbox_new(hello);
        sandbox_run(sb, false, &res);
        vmm_sandbox_destroy(sb);
        cold[i] = now_s() - t0;
    }
    vmm_sandbox *sb = sandbox_new(hello);
    sandbox_run(sb, false, &res);
    for (int i = 0; i < n; i++)
        warm[i] = sandbox_run(sb, true, &res);
    vmm_sandbox_destroy(sb);
    printf("DETAIL sandbox_cold_start_us %.0f us\n", median(cold, n) * 1e6);
    printf("DETAIL sandbox_warm_call_us %.0f us\n", median(warm, n) * 1e6);
    printf("DETAIL sandbox_hello_syscalls %llu count\n", (unsigned long long)res.syscalls);
    printf("DETAIL sandbox_warm_call_rounds %d count\n", n);
    free(cold);
    free(warm);
    free(z);
    return 0;
}
