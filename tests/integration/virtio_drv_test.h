/* SPDX-License-Identifier: MIT */
/* The virtio driver guest (guest/virtio_drv.c, CPL3, polling) with its
 * devices, and the checks of what it did: shared by test_virtio_kvm.c and
 * test_virtio_ioev_kvm.c. Include after kvm_test.h. */
#ifndef LIBVMM_VIRTIO_DRV_TEST_H
#define LIBVMM_VIRTIO_DRV_TEST_H

#include <stdlib.h>
#include <unistd.h>

#include "../../guest/virtio_drv.h"

#define SECTORS 64u

/* A disk image of SECTORS sectors; byte i holds (i * 13) & 0xff. The path is
 * a static buffer, valid until the next call. */
static char *drv_make_disk(void)
{
    static char path[64];
    strcpy(path, "/tmp/test_virtio_drv.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static uint8_t img[SECTORS * 512];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(i * 13);
    assert_int_equal(write(fd, img, sizeof img), (ssize_t)sizeof img);
    close(fd);
    return path;
}

/* The driver guest with debug-exit, virtio-rng (with the extra config keys
 * rng_keys, "" for none) and a virtio-blk over disk (with blk_keys). */
static void drv_start(struct tvm *t, const char *disk, const char *rng_keys, const char *blk_keys)
{
    tvm_start(t, "virtio_drv", VMM_X86_LONG, 3);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"size\": 4}", DRV_EXIT_MMIO);
    expect_ok(vmm_device_attach(NULL, t->vm, "debug-exit", cfg), "debug-exit");
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"max_bytes\": 4096%s%s}", DRV_RNG_MMIO,
             *rng_keys ? ", " : "", rng_keys);
    expect_ok(vmm_device_attach(NULL, t->vm, "virtio-rng", cfg), "virtio-rng");
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"path\": \"%s\", %s}", DRV_BLK_MMIO, disk, blk_keys);
    expect_ok(vmm_device_attach(NULL, t->vm, "virtio-blk", cfg), "virtio-blk");
}

/* After the driver exited with status 0 (its blk serial "disk-0"): its
 * results in guest memory, then (the VM stopped) the disk file; the disk is
 * removed. */
static void drv_check_results(struct tvm *t, const char *disk)
{
    struct drv_io io;
    expect_ok(vmm_mem_read(t->vm, DRV_IO, &io, sizeof io), "read results");
    /* rng: all 64 bytes written, and not all zero. */
    assert_int_equal(io.rng_used_len, DRV_RNG_LEN);
    uint8_t rnd[DRV_RNG_LEN], any = 0;
    expect_ok(vmm_mem_read(t->vm, DRV_RNG_BUF, rnd, sizeof rnd), "read rng buffer");
    for (size_t i = 0; i < sizeof rnd; i++)
        any |= rnd[i];
    assert_int_not_equal(any, 0);

    /* blk: capacity; read of sector 0..7; write to 8..15; flush; id. */
    assert_int_equal(io.blk_capacity, SECTORS);
    for (int i = 0; i < 4; i++)
        assert_int_equal(io.blk_status[i], 0);
    assert_int_equal(io.blk_used_len[0], DRV_DATA + 1);
    assert_int_equal(io.blk_used_len[1], 1);
    assert_int_equal(io.blk_used_len[2], 1);
    assert_int_equal(io.blk_used_len[3], 20 + 1);
    uint8_t got[DRV_DATA];
    expect_ok(vmm_mem_read(t->vm, DRV_BLK_READ, got, sizeof got), "read data");
    for (size_t i = 0; i < sizeof got; i++)
        if (got[i] != (uint8_t)(i * 13))
            fail_msg("sector data byte %zu: 0x%02x", i, got[i]);
    char id[20];
    expect_ok(vmm_mem_read(t->vm, DRV_BLK_ID, id, sizeof id), "read id");
    assert_memory_equal(id, "disk-0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
    tvm_stop(t);

    /* The written sectors reached the file; the rest is untouched. */
    FILE *f = fopen(disk, "rb");
    assert_non_null(f);
    static uint8_t img[SECTORS * 512];
    assert_int_equal(fread(img, 1, sizeof img, f), sizeof img);
    fclose(f);
    for (size_t i = 0; i < sizeof img; i++) {
        uint8_t want = i >= 8 * 512 && i < 8 * 512 + DRV_DATA ? (uint8_t)((i - 8 * 512) * 7 + 3)
                                                              : (uint8_t)(i * 13);
        if (img[i] != want)
            fail_msg("file byte %zu: 0x%02x, want 0x%02x", i, img[i], want);
    }
    unlink(disk);
}

#endif
