/* SPDX-License-Identifier: MIT */
/* VMs built from JSON specs: they run, report their info, failed builds
 * leave nothing behind, and each device's host resources are opened once. */
#include "kvm_test.h"

#include <sys/stat.h>

#include "../common/count_calls.h"
#include "../unit/tap_util.h"

static char spec[4096];

static const char *hello_spec(const char *extra_devices)
{
    snprintf(spec, sizeof spec,
             "{\"name\": \"t1\", \"uuid\": \"6F1C2B7E-3D4A-4E5F-8A9B-0C1D2E3F4A5B\","
             " \"vcpus\": 1, \"memory\": {\"size\": \"2M\"},"
             " \"cpu\": {\"mode\": \"long\", \"stack\": \"0x9000\"},"
             " \"boot\": {\"kind\": \"flat\", \"path\": \"hello_long.bin\"},"
             " \"devices\": [{\"type\": \"serial\", \"id\": \"com1\", \"console\": true},"
             " {\"type\": \"debug-exit\", \"size\": 1}%s],"
             " \"limits\": {\"time_budget_ms\": 5000}}",
             extra_devices);
    return spec;
}

static void test_spec_runs(void **state)
{
    (void)state;
    vmm_vm *vm;
    vmm_spec_info info;
    const char *s = hello_spec("");
    assert_int_equal(vmm_vm_create_from_spec(&vm, s, strlen(s), LIBVMM_GUEST_DIR, &info), 0);
    assert_string_equal(info.name, "t1");
    assert_string_equal(info.uuid, "6f1c2b7e-3d4a-4e5f-8a9b-0c1d2e3f4a5b");
    assert_int_equal(info.vcpus, 1);
    assert_int_equal(vmm_vm_vcpu_count(vm), 1);
    assert_int_equal(info.time_budget_ns, 5000000000ull);
    assert_int_equal(info.entry, 0x10000);
    assert_non_null(info.console);
    assert_string_equal(vmm_device_id(info.console), "com1");
    struct outbuf out = {{0}, 0};
    assert_int_equal(vmm_serial_set_output(info.console, outbuf_cb, &out), 0);
    vmm_run_result res;
    assert_int_equal(vmm_vm_run(vm, NULL, &res), 0);
    assert_int_equal(res.reason, VMM_EXIT_STATUS);
    assert_int_equal(res.status, 0x40);
    assert_string_equal(out.data, "Hello from long mode\n");
    vmm_vm_destroy(vm);
}

static void test_spec_generated_uuid(void **state)
{
    (void)state;
    const char *s = "{\"vcpus\": 3, \"memory\": {\"size\": 65536}, \"cpu\": {\"entry\": 4096}}";
    vmm_vm *a, *b;
    vmm_spec_info ia, ib;
    assert_int_equal(vmm_vm_create_from_spec(&a, s, strlen(s), NULL, &ia), 0);
    assert_int_equal(vmm_vm_create_from_spec(&b, s, strlen(s), NULL, &ib), 0);
    assert_int_equal(strlen(ia.uuid), 36);
    assert_int_equal(ia.uuid[14], '4'); /* version 4 */
    assert_string_not_equal(ia.uuid, ib.uuid);
    assert_string_equal(ia.name, "vm");
    assert_null(ia.console);
    assert_int_equal(ia.vcpus, 3);
    assert_int_equal(vmm_vm_vcpu_count(a), 3);
    vmm_vm_destroy(a);
    vmm_vm_destroy(b);
}

/* Failures at build time (after parsing) free everything: no fd or VM left. */
static void test_spec_failures_leak_nothing(void **state)
{
    (void)state;
    int before = count_open_fds();
    for (int i = 0; i < 50; i++) {
        vmm_vm *vm = (vmm_vm *)0x1;
        /* A second serial on COM1 conflicts with the first. */
        const char *s = hello_spec(", {\"type\": \"serial\"}");
        assert_int_equal(vmm_vm_create_from_spec(&vm, s, strlen(s), LIBVMM_GUEST_DIR, NULL),
                         VMM_ECONFIG);
        assert_null(vm);
        assert_non_null(strstr(vmm_error_last()->message, "devices[2]"));
        /* Missing file relative to base_dir. */
        s = hello_spec("");
        assert_int_equal(vmm_vm_create_from_spec(&vm, s, strlen(s), "/nonexistent", NULL),
                         VMM_ECONFIG);
        assert_string_equal(vmm_error_last()->message, "boot.path: no such file");
    }
    assert_int_equal(count_open_fds(), before);
}

static void test_spec_file(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/spec-test.json", LIBVMM_GUEST_DIR);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(hello_spec(""), f);
    fclose(f);
    vmm_vm *vm;
    vmm_spec_info info;
    /* Relative paths are relative to the spec file's directory. */
    assert_int_equal(vmm_vm_create_from_spec_file(&vm, path, &info), 0);
    vmm_vm_destroy(vm);
    unlink(path);
    assert_int_equal(vmm_vm_create_from_spec_file(&vm, path, &info), VMM_ENOENT);
    assert_int_equal(vmm_vm_create_from_spec_file(&vm, "/", &info), VMM_EIO);
    assert_int_equal(vmm_vm_create_from_spec_file(NULL, path, &info), VMM_EINVAL);
}

/* A VM from a spec creates each device once: its disk image is opened once,
 * its vsock socket bound once, /dev/net/tun opened once for its TAP (where
 * this process may make one), and the VM then runs. */
static void test_devices_opened_once(void **state)
{
    (void)state;
    char why[128];
    bool tap = tap_possible(why, sizeof why);
    if (!tap)
        fprintf(stderr,
                "test_devices_opened_once: no TAP device in the spec (cannot create "
                "one here: %s)\n",
                why);
    char dir[] = "/tmp/libvmm-once-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char disk[64], sock[64], tapname[IFNAMSIZ], extra[1024];
    snprintf(disk, sizeof disk, "%s/disk.img", dir);
    snprintf(sock, sizeof sock, "%s/vsock", dir);
    tap_name(tapname, sizeof tapname, "vmmonce");
    int fd = open(disk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    close(fd);
    snprintf(extra, sizeof extra,
             ", {\"type\": \"virtio-blk\", \"mmio\": \"0xd0000000\", \"path\": \"%s\"}"
             ", {\"type\": \"virtio-vsock\", \"mmio\": \"0xd0001000\", \"guest_cid\": 3, "
             "\"uds_path\": \"%s\"}%s%s%s",
             disk, sock,
             tap ? ", {\"type\": \"virtio-net\", \"mmio\": \"0xd0002000\", \"backend\": "
                   "\"tap\", \"tap\": \""
                 : "",
             tap ? tapname : "", tap ? "\"}" : "");
    const char *s = hello_spec(extra);
    count_calls_reset(disk, sock);
    vmm_vm *vm;
    vmm_spec_info info;
    assert_int_equal(vmm_vm_create_from_spec(&vm, s, strlen(s), LIBVMM_GUEST_DIR, &info), 0);
    assert_int_equal(count_file_opens, 1);
    assert_int_equal(count_binds, 1);
    assert_int_equal(count_tun_opens, tap ? 1 : 0);
    struct stat st;
    assert_int_equal(stat(sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    struct outbuf out = {{0}, 0};
    assert_int_equal(vmm_serial_set_output(info.console, outbuf_cb, &out), 0);
    vmm_run_result res;
    assert_int_equal(vmm_vm_run(vm, NULL, &res), 0);
    assert_int_equal(res.status, 0x40);
    assert_string_equal(out.data, "Hello from long mode\n");
    vmm_vm_destroy(vm);
    assert_int_equal(count_file_opens, 1);
    assert_int_equal(count_binds, 1);
    assert_int_equal(stat(sock, &st), -1); /* the device removed its socket */

    /* A device that fails is not tried again: the image is opened once. */
    snprintf(extra, sizeof extra,
             ", {\"type\": \"virtio-blk\", \"mmio\": \"0xd0000000\", \"path\": \"%s\"}"
             ", {\"type\": \"virtio-rng\", \"mmio\": \"0xd0000000\"}",
             disk);
    s = hello_spec(extra);
    count_calls_reset(disk, sock);
    assert_int_equal(vmm_vm_create_from_spec(&vm, s, strlen(s), LIBVMM_GUEST_DIR, NULL),
                     VMM_ECONFIG);
    assert_non_null(strstr(vmm_error_last()->message, "devices[3]"));
    assert_int_equal(count_file_opens, 1);
    unlink(disk);
    rmdir(dir);
}

int main(void)
{
    require_kvm("test_spec_vm");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_runs),
        cmocka_unit_test(test_spec_generated_uuid),
        cmocka_unit_test(test_spec_failures_leak_nothing),
        cmocka_unit_test(test_spec_file),
        cmocka_unit_test(test_devices_opened_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
