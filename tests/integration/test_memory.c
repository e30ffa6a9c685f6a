/* SPDX-License-Identifier: MIT */
/* Guest memory: mapping rules, checked access, read-only regions, dirty logging,
 * guest-virtual access through the guest's page tables. */
#include <sys/mman.h>

#include "kvm_test.h"

static vmm_vm *new_vm(void)
{
    vmm_vm *vm;
    assert_int_equal(vmm_vm_create(&vm, NULL), 0);
    return vm;
}

static void test_map_rules(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(vmm_mem_map(vm, 0, 0, NULL, 0), VMM_EINVAL);
    assert_int_equal(vmm_mem_map(vm, 0x800, 0x1000, NULL, 0), VMM_EINVAL);
    assert_int_equal(vmm_mem_map(vm, 0, 0x1800, NULL, 0), VMM_EINVAL);
    assert_int_equal(vmm_mem_map(vm, 0, 0x1000, NULL, 0x80), VMM_EINVAL);
    assert_int_equal(vmm_mem_map(vm, 0, 0x1000, (void *)0x1234, 0), VMM_EINVAL);
    assert_int_equal(vmm_mem_map(vm, 1ull << 52, 0x1000, NULL, 0), VMM_EOVERFLOW);
    assert_int_equal(vmm_mem_map(vm, 0xfffffffffffff000ull, 0x2000, NULL, 0), VMM_EOVERFLOW);

    assert_int_equal(vmm_mem_map(vm, 0x10000, 0x10000, NULL, 0), 0);
    /* Every kind of overlap is refused and the message names both ranges. */
    assert_int_equal(vmm_mem_map(vm, 0x10000, 0x10000, NULL, 0), VMM_EEXIST);
    assert_non_null(strstr(vmm_error_last()->message, "0x10000"));
    assert_int_equal(vmm_mem_map(vm, 0x8000, 0x9000, NULL, 0), VMM_EEXIST);
    assert_int_equal(vmm_mem_map(vm, 0x1f000, 0x2000, NULL, 0), VMM_EEXIST);
    assert_int_equal(vmm_mem_map(vm, 0x12000, 0x1000, NULL, 0), VMM_EEXIST);
    assert_int_equal(vmm_mem_map(vm, 0, 0x100000, NULL, 0), VMM_EEXIST);
    /* Adjacent is fine. */
    assert_int_equal(vmm_mem_map(vm, 0x20000, 0x1000, NULL, 0), 0);
    assert_int_equal(vmm_mem_map(vm, 0xf000, 0x1000, NULL, 0), 0);
    /* Unmap needs the exact start. */
    assert_int_equal(vmm_mem_unmap(vm, 0x11000), VMM_ENOENT);
    assert_int_equal(vmm_mem_unmap(vm, 0x10000), 0);
    assert_int_equal(vmm_mem_map(vm, 0x10000, 0x4000, NULL, 0), 0);
    /* A device's MMIO range cannot become RAM, and RAM cannot be claimed as MMIO. */
    assert_int_equal(vmm_device_attach(NULL, vm, "debug-exit", "{\"mmio\": 1048576}"), 0);
    assert_int_equal(vmm_mem_map(vm, 0x100000, 0x1000, NULL, 0), VMM_EEXIST);
    assert_int_equal(vmm_device_attach(NULL, vm, "debug-exit", "{\"mmio\": 65536}"), VMM_EEXIST);
    vmm_vm_destroy(vm);
    vmm_vm_destroy(NULL); /* NULL-safe */
}

static void test_memory_limit(void **state)
{
    (void)state;
    vmm_vm_options o = VMM_VM_OPTIONS_INIT;
    o.memory_limit = 0x10000;
    vmm_vm *vm;
    assert_int_equal(vmm_vm_create(&vm, &o), 0);
    assert_int_equal(vmm_mem_map(vm, 0, 0x8000, NULL, 0), 0);
    assert_int_equal(vmm_mem_map(vm, 0x8000, 0x8000, NULL, 0), 0);
    assert_int_equal(vmm_mem_map(vm, 0x10000, 0x1000, NULL, 0), VMM_ENOMEM);
    assert_int_equal(vmm_mem_unmap(vm, 0x8000), 0);
    assert_int_equal(vmm_mem_map(vm, 0x10000, 0x8000, NULL, 0), 0);
    vmm_vm_destroy(vm);
}

static void test_access_checks(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(vmm_mem_map(vm, 0, 0x2000, NULL, 0), 0);
    assert_int_equal(vmm_mem_map(vm, 0x2000, 0x2000, NULL, 0), 0);  /* contiguous */
    assert_int_equal(vmm_mem_map(vm, 0x10000, 0x1000, NULL, 0), 0); /* after a hole */
    uint8_t buf[0x3000], back[0x3000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7);
    /* Across two contiguous regions. */
    assert_int_equal(vmm_mem_write(vm, 0x800, buf, sizeof buf), 0);
    assert_int_equal(vmm_mem_read(vm, 0x800, back, sizeof back), 0);
    assert_memory_equal(buf, back, sizeof buf);
    /* Past the end, into the hole: refused, nothing written. */
    uint8_t zero[16] = {0}, probe[16];
    assert_int_equal(vmm_mem_write(vm, 0x3ff8, buf, 16), VMM_EFAULT);
    assert_int_equal(vmm_mem_read(vm, 0x3ff8, probe, 8), 0);
    assert_memory_equal(probe, zero, 8);
    assert_int_equal(vmm_mem_read(vm, 0x4000, probe, 1), VMM_EFAULT);
    assert_non_null(strstr(vmm_error_last()->message, "0x4000"));
    assert_int_equal(vmm_mem_read(vm, 0x10fff, probe, 2), VMM_EFAULT);
    assert_int_equal(vmm_mem_read(vm, 0xffffffffffffffffull, probe, 2), VMM_EFAULT);
    assert_int_equal(vmm_mem_read(vm, 1ull << 40, probe, 1), VMM_EFAULT);
    assert_int_equal(vmm_mem_read(vm, 0, NULL, 1), VMM_EINVAL);
    /* host_ptr only inside one region. */
    void *p;
    assert_int_equal(vmm_mem_host_ptr(vm, 0x1000, 0x1000, &p), 0);
    assert_memory_equal(p, buf + 0x800, 0x1000);
    assert_int_equal(vmm_mem_host_ptr(vm, 0x1000, 0x2000, &p), VMM_EFAULT);
    assert_null(p);
    vmm_vm_destroy(vm);
}

/* Memory supplied by the caller is what the guest sees. */
static void test_caller_memory(void **state)
{
    (void)state;
    void *mem = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(mem != MAP_FAILED);
    vmm_vm *vm = new_vm();
    assert_int_equal(vmm_mem_map(vm, 0, RAM_SIZE, mem, 0), 0);
    vmm_device *serial;
    struct outbuf out = {{0}, 0};
    assert_int_equal(vmm_device_attach(&serial, vm, "serial", NULL), 0);
    assert_int_equal(vmm_serial_set_output(serial, outbuf_cb, &out), 0);
    assert_int_equal(vmm_device_attach(NULL, vm, "debug-exit", "{\"size\": 1}"), 0);
    FILE *f = fopen(guest_path("hello_long"), "rb");
    assert_non_null(f);
    size_t n = fread((uint8_t *)mem + GUEST_LOAD, 1, 4096, f);
    fclose(f);
    assert_true(n > 0);
    vmm_vcpu *v;
    assert_int_equal(vmm_vcpu_create(&v, vm, 0), 0);
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.entry = GUEST_LOAD;
    assert_int_equal(vmm_x86_setup(v, &o), 0);
    vmm_exit x;
    assert_int_equal(vmm_vcpu_run(v, &x), 0);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_string_equal(out.data, "Hello from long mode\n");
    vmm_vm_destroy(vm);
    /* Not freed by libvmm: still ours. */
    assert_int_equal(((uint8_t *)mem)[GUEST_LOAD], ((uint8_t *)mem)[GUEST_LOAD]);
    munmap(mem, RAM_SIZE);
}

/* Read-only regions and dirty logging seen from a running guest. */
static void test_readonly_and_dirty_log(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "memtouch", VMM_X86_LONG, 0);
    assert_int_equal(vmm_mem_map(t.vm, 0x400000, 0x10000, NULL, VMM_MEM_DIRTY_LOG), 0);
    assert_int_equal(vmm_mem_map(t.vm, 0x500000, 0x1000, NULL, VMM_MEM_READONLY), 0);
    uint8_t rom = 0x5c;
    assert_int_equal(vmm_mem_write(t.vm, 0x500000, &rom, 1), 0); /* the host may write ROM */
    uint64_t bitmap[1] = {0};
    assert_int_equal(vmm_mem_dirty_log(t.vm, 0x400000, bitmap, 1), 0);
    assert_int_equal(vmm_mem_dirty_log(t.vm, 0, bitmap, 1), VMM_EINVAL); /* not logged */
    assert_int_equal(vmm_mem_dirty_log(t.vm, 0x400000, bitmap, 0), VMM_EINVAL);
    assert_int_equal(vmm_mem_dirty_log(t.vm, 0x600000, bitmap, 1), VMM_ENOENT);

    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_MMIO); /* the guest's write to ROM */
    assert_int_equal(x.mmio.addr, 0x500000);
    assert_true(x.mmio.is_write);
    assert_int_equal(x.mmio.data[0], 0x77);
    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, 0x5c); /* it read the ROM */
    uint8_t after;
    assert_int_equal(vmm_mem_read(t.vm, 0x500000, &after, 1), 0);
    assert_int_equal(after, 0x5c); /* unchanged */

    assert_int_equal(vmm_mem_dirty_log(t.vm, 0x400000, bitmap, 1), 0);
    assert_int_equal(bitmap[0], (1u << 0) | (1u << 3));
    assert_int_equal(vmm_mem_dirty_log(t.vm, 0x400000, bitmap, 1), 0);
    assert_int_equal(bitmap[0], 0); /* fetching clears it */
    tvm_stop(&t);
}

static void test_virtual_access(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "hello_long", VMM_X86_LONG, 0);
    uint8_t phys[32], virt[32];
    assert_int_equal(vmm_mem_read(t.vm, GUEST_LOAD, phys, sizeof phys), 0);
    assert_int_equal(vmm_vcpu_read_virt(t.vcpu, GUEST_LOAD, virt, sizeof virt), 0);
    assert_memory_equal(phys, virt, sizeof phys);
    uint64_t gpa;
    assert_int_equal(vmm_vcpu_translate(t.vcpu, 0x12345, 1, 0, &gpa), 0);
    assert_int_equal(gpa, 0x12345); /* identity map */
    /* CPL0 tables: user access refused; above 4 GiB unmapped; non-canonical. */
    assert_int_equal(vmm_vcpu_translate(t.vcpu, 0x12345, 0, 1, &gpa), VMM_EFAULT);
    assert_int_equal(vmm_vcpu_translate(t.vcpu, 5ull << 30, 0, 0, &gpa), VMM_EFAULT);
    assert_int_equal(vmm_vcpu_translate(t.vcpu, 0x0000800000000000ull, 0, 0, &gpa), VMM_EFAULT);
    /* Mapped by the guest but not RAM. */
    assert_int_equal(vmm_vcpu_read_virt(t.vcpu, 0xd0000000ull, virt, 4), VMM_EFAULT);
    /* Straddling the end of RAM: nothing is written. */
    uint8_t ones[8];
    memset(ones, 0xff, sizeof ones);
    assert_int_equal(vmm_vcpu_write_virt(t.vcpu, RAM_SIZE - 4, ones, 8), VMM_EFAULT);
    assert_int_equal(vmm_mem_read(t.vm, RAM_SIZE - 4, virt, 4), 0);
    assert_int_equal(virt[0] | virt[1] | virt[2] | virt[3], 0);
    const char msg[] = "written through virtual";
    assert_int_equal(vmm_vcpu_write_virt(t.vcpu, 0x1ff0, msg, sizeof msg), 0); /* crosses a page */
    char back[sizeof msg];
    assert_int_equal(vmm_mem_read(t.vm, 0x1ff0, back, sizeof back), 0);
    assert_string_equal(back, msg);
    tvm_stop(&t);
}

/* More regions than KVM has slots: refused cleanly. */
static void test_slot_exhaustion(void **state)
{
    (void)state;
    vmm_host_info info;
    assert_int_equal(vmm_host_info_get(&info), 0);
    size_t pages = info.max_memslots + 1;
    uint8_t *mem = mmap(NULL, pages * VMM_PAGE_SIZE * 2, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    assert_true(mem != MAP_FAILED);
    vmm_vm *vm = new_vm();
    int rc = 0;
    size_t i;
    for (i = 0; i < pages && rc == 0; i++) /* every other page: no two regions adjacent */
        rc = vmm_mem_map(vm, (uint64_t)i * 2 * VMM_PAGE_SIZE, VMM_PAGE_SIZE,
                         mem + i * 2 * VMM_PAGE_SIZE, 0);
    assert_int_equal(rc, VMM_E2BIG);
    assert_int_equal(i, info.max_memslots + 1);
    vmm_vm_destroy(vm);
    munmap(mem, pages * VMM_PAGE_SIZE * 2);
}

/* A file mapped read-only: contents copied, tail of the last page zero, the
 * guest cannot write it, later changes to the file do not show. */
static void test_map_file(void **state)
{
    (void)state;
    char path[] = "/tmp/libvmm-mapfile-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char data[5000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    assert_int_equal(write(fd, data, sizeof data), (ssize_t)sizeof data);
    vmm_vm *vm = new_vm();
    uint64_t size = 0;
    assert_int_equal(vmm_mem_map_file(vm, 0x100000, path, &size), 0);
    assert_int_equal(size, 0x2000);
    char back[0x2000];
    assert_int_equal(vmm_mem_read(vm, 0x100000, back, sizeof back), 0);
    assert_memory_equal(back, data, sizeof data);
    for (size_t i = sizeof data; i < sizeof back; i++)
        assert_int_equal(back[i], 0);
    assert_int_equal(pwrite(fd, "ZZZZ", 4, 0), 4);
    assert_int_equal(vmm_mem_read(vm, 0x100000, back, 4), 0);
    assert_memory_equal(back, "abcd", 4);
    /* Overlaps and bad files are refused. */
    assert_int_equal(vmm_mem_map_file(vm, 0x101000, path, NULL), VMM_EEXIST);
    assert_int_equal(vmm_mem_map_file(vm, 0x200800, path, NULL), VMM_EINVAL);
    assert_int_equal(vmm_mem_map_file(vm, 0x300000, "/nonexistent/file", NULL), VMM_ENOENT);
    assert_int_equal(vmm_mem_map_file(vm, 0x300000, "/tmp", NULL), VMM_EIO);
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(vmm_mem_map_file(vm, 0x300000, path, NULL), VMM_EINVAL);
    close(fd);
    unlink(path);
    vmm_vm_destroy(vm);
}

static long free_huge_pages(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    long n = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* Huge pages: refused with a clear message when the host has none free, used
 * when it has; alignment rules either way. */
static void test_hugepages(void **state)
{
    (void)state;
    vmm_vm *vm = new_vm();
    assert_int_equal(vmm_mem_map(vm, 0x1000, 2u << 20, NULL, VMM_MEM_HUGEPAGES), VMM_EINVAL);
    assert_int_equal(vmm_mem_map(vm, 0, 0x1000, NULL, VMM_MEM_HUGEPAGES), VMM_EINVAL);
    int rc = vmm_mem_map(vm, 0, 2u << 20, NULL, VMM_MEM_HUGEPAGES);
    if (free_huge_pages() >= 1) {
        assert_int_equal(rc, 0);
        uint32_t v = 0x12345678, r = 0;
        assert_int_equal(vmm_mem_write(vm, 0x1ffffc, &v, 4), 0);
        assert_int_equal(vmm_mem_read(vm, 0x1ffffc, &r, 4), 0);
        assert_int_equal(r, v);
    } else {
        assert_int_equal(rc, VMM_ENOMEM);
        assert_non_null(strstr(vmm_error_last()->message, "nr_hugepages"));
    }
    vmm_vm_destroy(vm);
}

static void test_host_info(void **state)
{
    (void)state;
    vmm_host_info info;
    assert_int_equal(vmm_host_info_get(NULL), VMM_EINVAL);
    assert_int_equal(vmm_host_info_get(&info), 0);
    assert_int_equal(info.api_version, 12);
    assert_true(info.max_vcpus >= 1);
    assert_true(info.max_memslots >= 32);
    assert_true(info.caps & VMM_CAP_IMMEDIATE_EXIT);
    assert_true(info.paging == VMM_PAGING_EPT || info.paging == VMM_PAGING_NPT ||
                info.paging == VMM_PAGING_SHADOW || info.paging == VMM_PAGING_UNKNOWN);
    if (info.pvm)
        assert_int_equal(info.paging, VMM_PAGING_SHADOW);
    assert_true(strlen(info.backend) > 0);
    printf("host: backend %s, paging %s, max vCPUs %u, memslots %u, caps 0x%x\n", info.backend,
           vmm_paging_name(info.paging), info.max_vcpus, info.max_memslots, info.caps);
}

int main(void)
{
    require_kvm("test_memory");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_rules),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_access_checks),
        cmocka_unit_test(test_caller_memory),
        cmocka_unit_test(test_readonly_and_dirty_log),
        cmocka_unit_test(test_virtual_access),
        cmocka_unit_test(test_slot_exhaustion),
        cmocka_unit_test(test_map_file),
        cmocka_unit_test(test_hugepages),
        cmocka_unit_test(test_host_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
