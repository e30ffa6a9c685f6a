/* SPDX-License-Identifier: MIT */
/* bench_console: virtio-console output throughput, measured in one run.
 *
 * Output (stdout), one line per figure:
 *   RATIO  console_throughput <value>  libvmm time / host time for the same
 *                                      bytes into a blocking pipe a thread drains
 *   DETAIL <name> <value> <unit>       the other sinks, MiB/s of both sides
 *
 * The libvmm side: the CPL3 guest guest/virtio_console_drv.c (stream mode)
 * sets up the device, then sends batches of 8 chains of 64 KiB, one
 * notification per batch, waiting for each batch to come back; the time runs
 * from the resumed run to the guest's exit. The reference: this process
 * writing the same number of 64 KiB chunks of the same bytes with write() to
 * the same sink (or, for the callback backend, calling the same callback with
 * them). Sinks: a blocking pipe and a non-blocking pipe (fd backend; a thread
 * drains the read end), /dev/null (fd backend), a callback that only looks at
 * copies the bytes into a 64 KiB buffer (callback backend). Sides are interleaved, alternating
 * which goes first; the ratio is the median of the per-round ratios. Exit 77
 * if /dev/kvm cannot be used. `--quick` makes it a smoke test. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <libvmm/vmm.h>

#include "../guest/virtio_console_drv.h"

#define BENCH_NAME "bench_console"
#include "bench_util.h"

#define RAM_SIZE    (2u << 20)
#define BATCH_BYTES ((size_t)CON_CHAINS * CON_CHAIN)

enum sink { PIPE, PIPE_NB, DEVNULL, CALLBACK, NSINKS };
static const char *const sink_name[NSINKS] = {"pipe", "pipe_nonblocking", "devnull", "callback"};

/* ---- sinks ---- */

static int pipe_fd[NSINKS][2];
static _Atomic uint64_t drained[NSINKS];
static uint64_t cb_bytes;
static uint8_t cb_copy[CON_CHAIN];

/* A consumer that copies what it gets (as one that buffers or forwards the
 * output would), at most a chain's worth per call. */
static void sink_cb(void *opaque, const void *data, size_t len)
{
    (void)opaque;
    memcpy(cb_copy, data, len < sizeof cb_copy ? len : sizeof cb_copy);
    cb_bytes += len;
}

static void *drain_main(void *arg)
{
    enum sink s = (enum sink)(uintptr_t)arg;
    static uint8_t buf[2][256 << 10];
    for (;;) {
        ssize_t k = read(pipe_fd[s][0], buf[s == PIPE_NB], sizeof buf[0]);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return NULL;
        atomic_fetch_add(&drained[s], (uint64_t)k);
    }
}

/* Wait until the drain thread has seen total bytes of sink s. */
static void wait_drained(enum sink s, uint64_t total)
{
    for (int i = 0; i < 100000 && atomic_load(&drained[s]) < total; i++)
        usleep(100);
    if (atomic_load(&drained[s]) != total)
        die("%s: %llu bytes arrived, %llu expected", sink_name[s],
            (unsigned long long)atomic_load(&drained[s]), (unsigned long long)total);
}

static int sink_fd(enum sink s)
{
    static int devnull = -1;
    if (s == DEVNULL) {
        if (devnull < 0 && (devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
            die("/dev/null: %s", strerror(errno));
        return devnull;
    }
    return pipe_fd[s][1];
}

/* ---- the host side: write() the same chunks ---- */

static uint8_t *host_data; /* the guest's CON_CHAINS buffers, byte for byte */

static double host_run(enum sink s, uint32_t batches)
{
    int fd = s == CALLBACK ? -1 : sink_fd(s);
    double t0 = now_s();
    for (uint32_t b = 0; b < batches; b++) {
        for (unsigned int i = 0; i < CON_CHAINS; i++) {
            const uint8_t *p = host_data + (size_t)i * CON_CHAIN;
            if (s == CALLBACK) {
                sink_cb(NULL, p, CON_CHAIN);
                continue;
            }
            for (size_t done = 0; done < CON_CHAIN;) {
                ssize_t k = write(fd, p + done, CON_CHAIN - done);
                if (k < 0 && errno == EINTR)
                    continue;
                if (k < 0 && errno == EAGAIN) {
                    struct pollfd pf = {fd, POLLOUT, 0};
                    poll(&pf, 1, -1);
                    continue;
                }
                if (k <= 0)
                    die("write: %s", strerror(errno));
                done += (size_t)k;
            }
        }
    }
    return now_s() - t0;
}

/* ---- the libvmm side ---- */

static double guest_run(enum sink s, uint32_t batches)
{
    vmm_vm *vm;
    vmm_device *con;
    vmm_check(vmm_vm_create(&vm, NULL), "vmm_vm_create");
    vmm_check(vmm_mem_map(vm, 0, RAM_SIZE, NULL, 0), "vmm_mem_map");
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"size\": 4}", CON_EXIT_MMIO);
    vmm_check(vmm_device_attach(NULL, vm, "debug-exit", cfg), "debug-exit");
    if (s == CALLBACK)
        snprintf(cfg, sizeof cfg, "{\"mmio\": %u}", CON_MMIO);
    else
        snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"backend\": \"fd\", \"out_fd\": %d}", CON_MMIO,
                 sink_fd(s));
    vmm_check(vmm_device_attach(&con, vm, "virtio-console", cfg), "virtio-console");
    if (s == CALLBACK)
        vmm_check(vmm_virtio_console_set_output(con, sink_cb, NULL), "set_output");
    char path[512];
    snprintf(path, sizeof path, "%s/virtio_console_drv.bin", LIBVMM_GUEST_DIR);
    vmm_vcpu *vcpu = bench_cpl3_guest(vm, path);
    struct con_io io = {.mode = CON_MODE_STREAM, .batches = batches};
    vmm_check(vmm_mem_write(vm, CON_IO, &io, sizeof io), "vmm_mem_write");

    vmm_exit x;
    double t = bench_timed_after_pause(vcpu, CON_PAUSE, &x);
    if (x.reason != VMM_EXIT_STATUS || x.status.code != 0)
        die("the guest failed (exit %s, status %d)", vmm_exit_reason_name(x.reason), x.status.code);
    vmm_vm_destroy(vm);
    return t;
}

int main(int argc, char **argv)
{
    bool quick;
    vmm_host_info info;
    int rc = bench_begin(argc, argv, &quick, &info);
    if (rc >= 0)
        return rc;
    int rounds = quick ? 2 : 7;
    uint32_t batches = quick ? 16 : 256; /* 8 MiB or 128 MiB per run */
    uint64_t bytes = (uint64_t)batches * BATCH_BYTES;

    host_data = xmalloc(BATCH_BYTES);
    for (size_t i = 0; i < BATCH_BYTES; i++)
        host_data[i] = (uint8_t)(i * 7 + (i >> 12));
    pthread_t drain[NSINKS];
    for (enum sink s = PIPE; s <= PIPE_NB; s++) {
        if (pipe2(pipe_fd[s], O_CLOEXEC) < 0)
            die("pipe: %s", strerror(errno));
        fcntl(pipe_fd[s][1], F_SETPIPE_SZ, 1 << 20);
        if (s == PIPE_NB && fcntl(pipe_fd[s][1], F_SETFL, O_NONBLOCK) < 0)
            die("fcntl: %s", strerror(errno));
        if (pthread_create(&drain[s], NULL, drain_main, (void *)(uintptr_t)s))
            die("pthread_create");
    }

    double lib[NSINKS][16], ref[NSINKS][16], ratio[NSINKS][16];
    uint64_t want[NSINKS] = {0};
    for (int r = 0; r < rounds; r++) {
        for (enum sink s = 0; s < NSINKS; s++) {
            uint64_t cb_before = cb_bytes;
            for (int side = 0; side < 2; side++) {
                if ((side ^ r) & 1)
                    lib[s][r] = guest_run(s, batches);
                else
                    ref[s][r] = host_run(s, batches);
                want[s] += bytes;
                if (s == PIPE || s == PIPE_NB)
                    wait_drained(s, want[s]);
            }
            if (s == CALLBACK && cb_bytes - cb_before != 2 * bytes)
                die("callback: %llu bytes, %llu expected",
                    (unsigned long long)(cb_bytes - cb_before), (unsigned long long)(2 * bytes));
            ratio[s][r] = lib[s][r] / ref[s][r];
        }
    }

    ratio_report(true, "console_throughput", ratio[PIPE], rounds);
    double mib = (double)bytes / (1 << 20);
    for (enum sink s = 0; s < NSINKS; s++) {
        char name[64];
        snprintf(name, sizeof name, "console_throughput_%s", sink_name[s]);
        if (s != PIPE)
            ratio_report(false, name, ratio[s], rounds);
        printf("DETAIL %s_mibs %.0f MiB/s\n", name, mib / median(lib[s], rounds));
        printf("DETAIL %s_ref_mibs %.0f MiB/s\n", name, mib / median(ref[s], rounds));
    }
    printf("DETAIL console_throughput_bytes_per_run %llu bytes\n", (unsigned long long)bytes);

    for (enum sink s = PIPE; s <= PIPE_NB; s++) {
        close(pipe_fd[s][1]);
        pthread_join(drain[s], NULL);
        close(pipe_fd[s][0]);
    }
    free(host_data);
    return 0;
}
