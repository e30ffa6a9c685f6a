/* SPDX-License-Identifier: MIT */
/* bench_blk: virtio-blk sequential throughput, measured in one run.
 *
 * Output (stdout), one line per figure:
 *   RATIO  blk_seq_read  <value>   libvmm time / host time to read the file
 *   RATIO  blk_seq_write <value>   the same for writing it
 *   DETAIL <name> <value> <unit>   the ratio with "ioeventfd": true, spreads,
 *                                  MiB/s of each side
 *
 * The libvmm side: the CPL3 guest guest/virtio_blk_bench.c sets up a
 * virtio-blk over a temporary file, pauses, then (timed, from the resumed
 * run to the guest's exit) streams the whole file in requests of REQ bytes,
 * keeping INFLIGHT requests in the queue and notifying once per batch of
 * completions it re-posts. The headline ratio is for the default
 * configuration (queues served synchronously on the vCPU thread); the
 * "_ioeventfd" figures for "ioeventfd": true (served on the device's I/O
 * thread). The reference: this process pread()s or pwrite()s the same file
 * in the same REQ-byte requests, in order, from one buffer.
 *
 * Both sides are cache-hot: the file is written (and so in the page cache)
 * before the first round, nothing is synced, and writes land in the page
 * cache on both sides. Both check the first 8 bytes of each request read
 * (the request's number) and stamp them on a write. Sides are interleaved,
 * rotating which goes first; each ratio is the median of the per-round
 * ratios. Exit 77 if /dev/kvm cannot be used. `--quick` makes it a smoke
 * test. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <libvmm/vmm.h>

#include "../guest/virtio_blk_bench.h"

#define BENCH_NAME "bench_blk"
#include "bench_util.h"

#define RAM_SIZE   (8u << 20)
#define REQ        (128u << 10)
#define INFLIGHT   8u
#define MAX_ROUNDS 16

static char disk[64];
static uint8_t *host_buf;

/* ---- the host side ---- */

static double host_run(bool write, uint32_t nreqs)
{
    int fd = open(disk, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        die("%s: %s", disk, strerror(errno));
    double t0 = now_s();
    for (uint32_t n = 0; n < nreqs; n++) {
        off_t pos = (off_t)n * REQ;
        if (write)
            memcpy(host_buf, &(uint64_t){n}, 8);
        for (size_t done = 0; done < REQ;) {
            ssize_t k = write ? pwrite(fd, host_buf + done, REQ - done, pos + (off_t)done)
                              : pread(fd, host_buf + done, REQ - done, pos + (off_t)done);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                die("%s: %s", write ? "pwrite" : "pread", k < 0 ? strerror(errno) : "short");
            done += (size_t)k;
        }
        uint64_t stamp;
        memcpy(&stamp, host_buf, 8);
        if (!write && stamp != n)
            die("host read: request %u holds stamp %llu", n, (unsigned long long)stamp);
    }
    double t = now_s() - t0;
    close(fd);
    return t;
}

/* ---- the libvmm side ---- */

static uint32_t last_notifies;

static double guest_run(bool write, bool ioeventfd, uint32_t nreqs)
{
    vmm_vm *vm;
    vmm_check(vmm_vm_create(&vm, NULL), "vmm_vm_create");
    vmm_check(vmm_mem_map(vm, 0, RAM_SIZE, NULL, 0), "vmm_mem_map");
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"size\": 4}", BB_EXIT_MMIO);
    vmm_check(vmm_device_attach(NULL, vm, "debug-exit", cfg), "debug-exit");
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"path\": \"%s\", \"ioeventfd\": %s}", BB_BLK_MMIO,
             disk, ioeventfd ? "true" : "false");
    vmm_check(vmm_device_attach(NULL, vm, "virtio-blk", cfg), "virtio-blk");
    char path[512];
    snprintf(path, sizeof path, "%s/virtio_blk_bench.bin", LIBVMM_GUEST_DIR);
    vmm_vcpu *vcpu = bench_cpl3_guest(vm, path);
    struct bb_io io = {.write = write, .req_bytes = REQ, .inflight = INFLIGHT, .nreqs = nreqs};
    vmm_check(vmm_mem_write(vm, BB_IO, &io, sizeof io), "vmm_mem_write");

    vmm_exit x;
    double t = bench_timed_after_pause(vcpu, BB_PAUSE, &x);
    vmm_check(vmm_mem_read(vm, BB_IO, &io, sizeof io), "vmm_mem_read");
    if (x.reason != VMM_EXIT_STATUS || x.status.code != 0)
        die("the guest failed (exit %s, status %d, %u bad requests)",
            vmm_exit_reason_name(x.reason), x.status.code, io.errors);
    last_notifies = io.notifies;
    vmm_vm_destroy(vm);
    return t;
}

/* The file as request n's stamp at the start of each REQ bytes. */
static void make_disk(uint32_t nreqs)
{
    snprintf(disk, sizeof disk, "/tmp/bench_blk.XXXXXX");
    int fd = mkstemp(disk);
    if (fd < 0)
        die("mkstemp: %s", strerror(errno));
    for (uint32_t n = 0; n < nreqs; n++) {
        memset(host_buf, (int)(n & 0xff), REQ);
        memcpy(host_buf, &(uint64_t){n}, 8);
        if (pwrite(fd, host_buf, REQ, (off_t)n * REQ) != (ssize_t)REQ)
            die("writing %s: %s", disk, strerror(errno));
    }
    close(fd);
}

/* After the write rounds: every request's stamp is in the file. */
static void check_disk(uint32_t nreqs)
{
    int fd = open(disk, O_RDONLY | O_CLOEXEC);
    for (uint32_t n = 0; fd >= 0 && n < nreqs; n++) {
        uint64_t stamp = ~0ull;
        if (pread(fd, &stamp, 8, (off_t)n * REQ) != 8 || stamp != n)
            die("the file's request %u holds stamp %llu", n, (unsigned long long)stamp);
    }
    if (fd >= 0)
        close(fd);
}

int main(int argc, char **argv)
{
    bool quick;
    vmm_host_info info;
    int rc = bench_begin(argc, argv, &quick, &info);
    if (rc >= 0)
        return rc;
    int rounds = quick ? 2 : 11;
    uint32_t mib = quick ? 8 : 64;
    uint32_t nreqs = (uint32_t)(((uint64_t)mib << 20) / REQ);
    host_buf = xmalloc(REQ);
    make_disk(nreqs);

    static const char *const name[2] = {"blk_seq_read", "blk_seq_write"};
    for (int w = 0; w < 2; w++) {
        double sync_t[MAX_ROUNDS], ioev_t[MAX_ROUNDS], host_t[MAX_ROUNDS];
        double sync_r[MAX_ROUNDS], ioev_r[MAX_ROUNDS];
        uint32_t sync_n = 0, ioev_n = 0;
        for (int r = 0; r < rounds; r++) {
            for (int k = 0; k < 3; k++) {
                switch ((k + r) % 3) {
                case 0:
                    sync_t[r] = guest_run(w, false, nreqs);
                    sync_n = last_notifies;
                    break;
                case 1:
                    ioev_t[r] = guest_run(w, true, nreqs);
                    ioev_n = last_notifies;
                    break;
                default:
                    host_t[r] = host_run(w, nreqs);
                    break;
                }
            }
            sync_r[r] = sync_t[r] / host_t[r];
            ioev_r[r] = ioev_t[r] / host_t[r];
        }
        if (w)
            check_disk(nreqs);
        ratio_report(true, name[w], sync_r, rounds);
        char n2[64];
        snprintf(n2, sizeof n2, "%s_ioeventfd", name[w]);
        ratio_report(false, n2, ioev_r, rounds);
        printf("DETAIL %s_sync_mibs %.0f MiB/s\n", name[w], mib / median(sync_t, rounds));
        printf("DETAIL %s_ioeventfd_mibs %.0f MiB/s\n", name[w], mib / median(ioev_t, rounds));
        printf("DETAIL %s_sync_notifies %u count\n", name[w], sync_n);
        printf("DETAIL %s_ioeventfd_notifies %u count\n", name[w], ioev_n);
        printf("DETAIL %s_host_mibs %.0f MiB/s\n", name[w], mib / median(host_t, rounds));
    }
    printf("DETAIL blk_bytes %u MiB\n", mib);
    printf("DETAIL blk_request %u KiB\n", REQ >> 10);
    printf("DETAIL blk_inflight %u count\n", INFLIGHT);
    unlink(disk);
    free(host_buf);
    return 0;
}
