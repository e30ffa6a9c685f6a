/* SPDX-License-Identifier: MIT */
/* Snapshots of a VM whose guest is mid-stream on virtio-blk (with KVM): the
 * streaming driver (guest/virtio_blk_bench.c) keeps 16 requests in flight
 * and stops once more after 250 of 600, with requests posted and not yet
 * notified and completions not yet taken. A snapshot there, restored into
 * the same VM (three times) and, through a file, into a new VM built the
 * same way, lets the driver finish every time: each request completes once,
 * from the right sector, and the queue indices of device and driver agree.
 * Both with notifications served on the vCPU thread and through ioeventfd
 * doorbells on the device's I/O thread. */
#include <sys/stat.h>

#include "kvm_test.h"

#include "../../guest/virtio_blk_bench.h"

#define NREQS    600u
#define PAUSE_AT 250u
#define REQ      4096u
#define HIGH_RAM (1u << 20) /* the driver's buffers at BB_DATA (2 MiB) */

static char disk[64];
static char file[64];

/* The disk: each REQ bytes start with their request's number. */
static void make_disk(void)
{
    snprintf(disk, sizeof disk, "/tmp/test_virtio_snap.XXXXXX");
    int fd = mkstemp(disk);
    assert_true(fd >= 0);
    static uint8_t buf[REQ];
    for (uint32_t n = 0; n < NREQS; n++) {
        memset(buf, (int)(n & 0xff), REQ);
        memcpy(buf, &(uint64_t){n}, 8);
        assert_int_equal(pwrite(fd, buf, REQ, (off_t)n * REQ), (ssize_t)REQ);
    }
    close(fd);
}

static void build(struct tvm *t, bool ioeventfd)
{
    tvm_start(t, "virtio_blk_bench", VMM_X86_LONG, 3);
    expect_ok(vmm_mem_map(t->vm, RAM_SIZE, HIGH_RAM, NULL, 0), "map");
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"size\": 4}", BB_EXIT_MMIO);
    expect_ok(vmm_device_attach(NULL, t->vm, "debug-exit", cfg), "debug-exit");
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"path\": \"%s\", \"ioeventfd\": %s}", BB_BLK_MMIO,
             disk, ioeventfd ? "true" : "false");
    expect_ok(vmm_device_attach(NULL, t->vm, "virtio-blk", cfg), "virtio-blk");
}

static void expect_status(struct tvm *t, int32_t code, const char *when)
{
    vmm_exit x = tvm_run(t);
    if (x.reason != VMM_EXIT_STATUS || x.status.code != code) {
        struct bb_io io;
        expect_ok(vmm_mem_read(t->vm, BB_IO, &io, sizeof io), "read io");
        fail_msg("%s: exit %s, status %d (want %d); %u done, %u bad", when,
                 vmm_exit_reason_name(x.reason), x.status.code, code, io.done, io.errors);
    }
}

/* From the mid-stream pause to the end: every request done once, none bad. */
static void expect_finishes(struct tvm *t, const char *when)
{
    expect_status(t, 0, when);
    struct bb_io io;
    expect_ok(vmm_mem_read(t->vm, BB_IO, &io, sizeof io), "read io");
    if (io.done != NREQS || io.errors != 0)
        fail_msg("%s: %u requests done (want %u), %u bad", when, io.done, NREQS, io.errors);
}

static void mid_stream(bool ioeventfd)
{
    make_disk();
    snprintf(file, sizeof file, "/tmp/test_virtio_snap_file.XXXXXX");
    int fd = mkstemp(file);
    assert_true(fd >= 0);
    close(fd);

    struct tvm t;
    build(&t, ioeventfd);
    struct bb_io io = {
        .write = 0, .req_bytes = REQ, .inflight = 16, .nreqs = NREQS, .pause_at = PAUSE_AT};
    expect_ok(vmm_mem_write(t.vm, BB_IO, &io, sizeof io), "write io");
    expect_status(&t, BB_PAUSE, "set-up");
    expect_status(&t, BB_PAUSE, "mid-stream pause");
    vmm_snapshot *snap;
    expect_ok(vmm_snapshot_take(t.vm, &snap), "take");
    expect_ok(vmm_snapshot_save(snap, file), "save");
    expect_finishes(&t, "the first run");
    for (int i = 0; i < 3; i++) {
        expect_ok(vmm_snapshot_restore(t.vm, snap), "restore");
        expect_finishes(&t, "a run after a restore");
    }
    vmm_snapshot_free(snap);
    tvm_stop(&t);

    /* Through the file into a new VM of the same shape. */
    build(&t, ioeventfd);
    vmm_snapshot *loaded;
    expect_ok(vmm_snapshot_load(file, &loaded), "load");
    expect_ok(vmm_snapshot_restore(t.vm, loaded), "restore from the file");
    expect_finishes(&t, "a run in a new VM");
    vmm_snapshot_free(loaded);
    tvm_stop(&t);
    unlink(file);
    unlink(disk);
}

static void test_mid_stream(void **st)
{
    (void)st;
    mid_stream(false);
}

static void test_mid_stream_ioeventfd(void **st)
{
    (void)st;
    mid_stream(true);
}

/* A snapshot does not go into a VM whose disk differs from the one the
 * guest saw: the restore is refused, saying why. */
static void test_other_disk_refused(void **st)
{
    (void)st;
    make_disk();
    struct tvm t;
    build(&t, false);
    struct bb_io io = {.req_bytes = REQ, .inflight = 4, .nreqs = 8, .pause_at = 4};
    expect_ok(vmm_mem_write(t.vm, BB_IO, &io, sizeof io), "write io");
    expect_status(&t, BB_PAUSE, "set-up");
    expect_status(&t, BB_PAUSE, "pause");
    vmm_snapshot *snap;
    expect_ok(vmm_snapshot_take(t.vm, &snap), "take");
    tvm_stop(&t);
    assert_int_equal(truncate(disk, (off_t)REQ * NREQS * 2), 0);
    build(&t, false);
    assert_int_equal(vmm_snapshot_restore(t.vm, snap), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "sectors"));
    vmm_snapshot_free(snap);
    tvm_stop(&t);
    unlink(disk);
}

int main(void)
{
    require_kvm("test_virtio_snap_kvm");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mid_stream),
        cmocka_unit_test(test_mid_stream_ioeventfd),
        cmocka_unit_test(test_other_disk_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
