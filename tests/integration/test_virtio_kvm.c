/* SPDX-License-Identifier: MIT */
/* virtio-rng and virtio-blk driven by a real guest driver (guest/virtio_drv.c,
 * CPL3, polling) through KVM: set-up, requests, and the results in guest
 * memory and in the disk file. */
#include "kvm_test.h"

#include "virtio_drv_test.h"

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
    char *disk = drv_make_disk();
    struct tvm t;
    drv_start(&t, disk, "", "\"serial\": \"disk-0\"");

    int32_t status = -1;
    run_driver(&t, &status);
    assert_int_equal(status, 0);

    drv_check_results(&t, disk);
}

/* A read-only disk refuses the driver's write with an error status. */
static void test_blk_readonly(void **state)
{
    (void)state;
    char *disk = drv_make_disk();
    struct tvm t;
    drv_start(&t, disk, "", "\"readonly\": true");
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
    char *tmp = drv_make_disk();
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
