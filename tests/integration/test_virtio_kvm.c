/* SPDX-License-Identifier: MIT */
/* virtio-rng and virtio-blk driven by a real guest driver (guest/virtio_drv.c,
 * CPL3, polling) through KVM: set-up, requests, and the results in guest
 * memory and in the disk file. */
#include "kvm_test.h"

#include <stdlib.h>
#include <unistd.h>

#include "../../guest/virtio_drv.h"

#define SECTORS 64u

/* A disk image of SECTORS sectors; byte i holds (i * 13) & 0xff. */
static char *make_disk(void)
{
    static char path[] = "/tmp/test_virtio_kvm.XXXXXX";
    strcpy(path, "/tmp/test_virtio_kvm.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static uint8_t img[SECTORS * 512];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(i * 13);
    assert_int_equal(write(fd, img, sizeof img), (ssize_t)sizeof img);
    close(fd);
    return path;
}

/* The driver guest with debug-exit, virtio-rng and a virtio-blk over disk
 * with the extra config keys blk_keys. */
static void start(struct tvm *t, const char *disk, const char *blk_keys)
{
    tvm_start(t, "virtio_drv", VMM_X86_LONG, 3);
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"size\": 4}", DRV_EXIT_MMIO);
    expect_ok(vmm_device_attach(t->vm, "debug-exit", cfg, NULL), "debug-exit");
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"max_bytes\": 4096}", DRV_RNG_MMIO);
    expect_ok(vmm_device_attach(t->vm, "virtio-rng", cfg, NULL), "virtio-rng");
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"path\": \"%s\", %s}", DRV_BLK_MMIO, disk, blk_keys);
    expect_ok(vmm_device_attach(t->vm, "virtio-blk", cfg, NULL), "virtio-blk");
}

static void run_driver(struct tvm *t, int32_t *status)
{
    for (int i = 0; i < 1000; i++) {
        vmm_exit x = tvm_run(t);
        if (x.reason == VMM_EXIT_STATUS) {
            *status = x.status.code;
            return;
        }
        fail_msg("unexpected exit %s", vmm_exit_reason_name(x.reason));
    }
}

static void test_rng_and_blk(void **state)
{
    (void)state;
    char *disk = make_disk();
    struct tvm t;
    start(&t, disk, "\"serial\": \"disk-0\"");

    int32_t status = -1;
    run_driver(&t, &status);
    assert_int_equal(status, 0);

    struct drv_io io;
    expect_ok(vmm_mem_read(t.vm, DRV_IO, &io, sizeof io), "read results");
    /* rng: all 64 bytes written, and not all zero. */
    assert_int_equal(io.rng_used_len, DRV_RNG_LEN);
    uint8_t rnd[DRV_RNG_LEN], any = 0;
    expect_ok(vmm_mem_read(t.vm, DRV_RNG_BUF, rnd, sizeof rnd), "read rng buffer");
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
    expect_ok(vmm_mem_read(t.vm, DRV_BLK_READ, got, sizeof got), "read data");
    for (size_t i = 0; i < sizeof got; i++)
        if (got[i] != (uint8_t)(i * 13))
            fail_msg("sector data byte %zu: 0x%02x", i, got[i]);
    char id[20];
    expect_ok(vmm_mem_read(t.vm, DRV_BLK_ID, id, sizeof id), "read id");
    assert_memory_equal(id, "disk-0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
    tvm_stop(&t);

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

/* A read-only disk refuses the driver's write with an error status. */
static void test_blk_readonly(void **state)
{
    (void)state;
    char *disk = make_disk();
    struct tvm t;
    start(&t, disk, "\"readonly\": true");
    int32_t status = -1;
    run_driver(&t, &status);
    assert_int_equal(status, 22); /* the write step failed */
    struct drv_io io;
    expect_ok(vmm_mem_read(t.vm, DRV_IO, &io, sizeof io), "read results");
    assert_int_equal(io.blk_status[0], 0);
    assert_int_equal(io.blk_status[1], 1); /* VIRTIO_BLK_S_IOERR */
    tvm_stop(&t);
    unlink(disk);
}

/* The same devices from a JSON spec: the disk's path is relative to the
 * spec's base directory. */
static void test_from_spec(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_virtio_spec.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char disk[64];
    snprintf(disk, sizeof disk, "%s/disk.img", dir);
    char *tmp = make_disk();
    assert_int_equal(rename(tmp, disk), 0);
    char spec[2048];
    snprintf(spec, sizeof spec,
             "{\"memory\": {\"size\": \"2M\"},"
             " \"cpu\": {\"mode\": \"long\", \"cpl\": 3, \"stack\": \"0x9000\"},"
             " \"boot\": {\"kind\": \"flat\", \"path\": \"%s/virtio_drv.bin\"},"
             " \"devices\": [{\"type\": \"debug-exit\", \"mmio\": %u},"
             " {\"type\": \"virtio-rng\", \"mmio\": %u},"
             " {\"type\": \"virtio-blk\", \"mmio\": %u, \"path\": \"disk.img\"}],"
             " \"limits\": {\"time_budget_ms\": 20000}}",
             LIBVMM_GUEST_DIR, DRV_EXIT_MMIO, DRV_RNG_MMIO, DRV_BLK_MMIO);
    expect_ok(vmm_spec_check(spec, strlen(spec), dir), "vmm_spec_check");
    vmm_vm *vm;
    expect_ok(vmm_vm_create_from_spec(&vm, spec, strlen(spec), dir, NULL), "from spec");
    vmm_run_result res;
    expect_ok(vmm_vm_run(vm, NULL, &res), "vmm_vm_run");
    assert_int_equal(res.reason, VMM_EXIT_STATUS);
    assert_int_equal(res.status, 0);
    vmm_vm_destroy(vm);
    /* A missing image is an error naming the key. */
    unlink(disk);
    assert_int_equal(vmm_spec_check(spec, strlen(spec), dir), VMM_ECONFIG);
    assert_non_null(strstr(vmm_error_last()->message, "path"));
    rmdir(dir);
}

int main(void)
{
    require_kvm("test_virtio_kvm");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_and_blk),
        cmocka_unit_test(test_blk_readonly),
        cmocka_unit_test(test_from_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
