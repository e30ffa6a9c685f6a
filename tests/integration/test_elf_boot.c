/* SPDX-License-Identifier: MIT */
/* vmm_boot_elf(): a tiny long-mode ELF built here is loaded and run; refused
 * images leave guest memory untouched. */
#include <elf.h>

#include "kvm_test.h"

#define TEXT_GPA  0x20000u
#define TEXT_SIZE 0x3000u /* memsz: code then a zeroed .bss-like tail */
#define DATA_GPA  0x30000u
#define DATA_SIZE 0x1000u
#define CODE_OFF  0x10u /* e_entry is this far into the segment */

/* mov $0xf4,%dx; mov $0x2a,%al; out %al,%dx; hlt */
static const uint8_t code[] = {0x66, 0xba, 0xf4, 0x00, 0xb0, 0x2a, 0xee, 0xf4};
static const uint8_t data[16] = "elf data segment";

struct image {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[2];
    uint8_t text[CODE_OFF + sizeof code]; /* int3 padding, then the code */
    uint8_t data[sizeof data];
};

static void build(struct image *im)
{
    memset(im, 0, sizeof *im);
    Elf64_Ehdr *e = &im->eh;
    memcpy(e->e_ident, ELFMAG, SELFMAG);
    e->e_ident[EI_CLASS] = ELFCLASS64;
    e->e_ident[EI_DATA] = ELFDATA2LSB;
    e->e_ident[EI_VERSION] = EV_CURRENT;
    e->e_type = ET_EXEC;
    e->e_machine = EM_X86_64;
    e->e_version = EV_CURRENT;
    e->e_entry = TEXT_GPA + CODE_OFF;
    e->e_phoff = offsetof(struct image, ph);
    e->e_ehsize = sizeof(Elf64_Ehdr);
    e->e_phentsize = sizeof(Elf64_Phdr);
    e->e_phnum = 2;

    im->ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
                             .p_flags = PF_R | PF_X,
                             .p_offset = offsetof(struct image, text),
                             .p_vaddr = TEXT_GPA,
                             .p_paddr = TEXT_GPA,
                             .p_filesz = sizeof im->text,
                             .p_memsz = TEXT_SIZE,
                             .p_align = 8};
    im->ph[1] = (Elf64_Phdr){.p_type = PT_LOAD,
                             .p_flags = PF_R | PF_W,
                             .p_offset = offsetof(struct image, data),
                             .p_vaddr = DATA_GPA,
                             .p_paddr = DATA_GPA,
                             .p_filesz = sizeof im->data,
                             .p_memsz = DATA_SIZE,
                             .p_align = 8};
    memset(im->text, 0xcc, CODE_OFF);
    memcpy(im->text + CODE_OFF, code, sizeof code);
    memcpy(im->data, data, sizeof data);
}

/* Write the image to a new temp file; returns its path (static buffer). */
static const char *write_image(const struct image *im)
{
    static char path[512];
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/test_elf_boot.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, im, sizeof *im), (ssize_t)sizeof *im);
    close(fd);
    return path;
}

/* A long-mode VM whose whole RAM is 0xff, so bytes the loader writes show. */
static uint8_t *start_filled(struct tvm *t)
{
    tvm_start(t, NULL, VMM_X86_LONG, 0);
    void *ram;
    assert_int_equal(vmm_mem_host_ptr(t->vm, 0, RAM_SIZE, &ram), 0);
    memset(ram, 0xff, RAM_SIZE);
    return ram;
}

static void assert_all_ff(const uint8_t *ram)
{
    for (size_t i = 0; i < RAM_SIZE; i++)
        if (ram[i] != 0xff)
            fail_msg("guest RAM at 0x%zx was written (0x%02x)", i, ram[i]);
}

static void assert_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != 0)
            fail_msg("byte %zu of a zeroed tail is 0x%02x", i, p[i]);
}

static void test_boot_runs(void **state)
{
    (void)state;
    struct image im;
    build(&im);
    const char *path = write_image(&im);
    struct tvm t;
    uint8_t *ram = start_filled(&t);
    int fds = count_open_fds();

    uint64_t entry = 0;
    int rc = vmm_boot_elf(t.vm, path, &entry);
    if (rc != 0)
        fail_msg("vmm_boot_elf: %s", vmm_error_last()->message);
    assert_int_equal(count_open_fds(), fds);
    assert_int_equal(entry, TEXT_GPA + CODE_OFF);

    /* File bytes at p_paddr, zero up to p_memsz, nothing outside. */
    assert_memory_equal(ram + TEXT_GPA, im.text, sizeof im.text);
    assert_zero(ram + TEXT_GPA + sizeof im.text, TEXT_SIZE - sizeof im.text);
    assert_memory_equal(ram + DATA_GPA, data, sizeof data);
    assert_zero(ram + DATA_GPA + sizeof data, DATA_SIZE - sizeof data);
    assert_int_equal(ram[TEXT_GPA - 1], 0xff);
    assert_int_equal(ram[TEXT_GPA + TEXT_SIZE], 0xff);
    assert_int_equal(ram[DATA_GPA - 1], 0xff);
    assert_int_equal(ram[DATA_GPA + DATA_SIZE], 0xff);

    /* The tables were overwritten with 0xff: set the vCPU up again. */
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.mode = VMM_X86_LONG;
    o.entry = entry;
    o.stack = GUEST_STACK;
    assert_int_equal(vmm_x86_setup(t.vcpu, &o), 0);
    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, 0x2a);
    assert_zero(ram + TEXT_GPA + sizeof im.text, TEXT_SIZE - sizeof im.text);
    tvm_stop(&t);

    /* entry may be NULL. */
    start_filled(&t);
    assert_int_equal(vmm_boot_elf(t.vm, path, NULL), 0);
    tvm_stop(&t);
    unlink(path);
}

/* A segment not inside RAM: VMM_EFAULT naming it, and no byte written, not even
 * those of the segments that would fit. */
static void test_outside_ram(void **state)
{
    (void)state;
    static const struct {
        uint64_t paddr, memsz;
        const char *range;
    } cases[] = {
        {RAM_SIZE - 0x800, 0x1000, "[0x1ff800, 0x200800)"}, /* straddles the end */
        {RAM_SIZE, 0x10, "[0x200000, 0x200010)"},           /* just past it */
        {0x40000000, DATA_SIZE, "[0x40000000, 0x40001000)"},
        {0xfffffffffffff000ull, 0xfff, "[0xfffffffffffff000, 0xffffffffffffffff)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct image im;
        build(&im);
        im.ph[1].p_paddr = cases[i].paddr;
        im.ph[1].p_memsz = cases[i].memsz;
        if (im.ph[1].p_filesz > cases[i].memsz)
            im.ph[1].p_filesz = cases[i].memsz;
        const char *path = write_image(&im);
        struct tvm t;
        uint8_t *ram = start_filled(&t);
        int fds = count_open_fds();
        uint64_t entry = 0x5555;
        assert_int_equal(vmm_boot_elf(t.vm, path, &entry), VMM_EFAULT);
        const char *msg = vmm_error_last()->message;
        char want[128];
        snprintf(want, sizeof want, ": segment 1 %s is outside guest RAM", cases[i].range);
        if (strncmp(msg, path, strlen(path)) != 0 || !strstr(msg, want))
            fail_msg("message \"%s\" does not name %s and \"%s\"", msg, path, want);
        assert_int_equal(entry, 0x5555);
        assert_int_equal(count_open_fds(), fds);
        assert_all_ff(ram);
        tvm_stop(&t);
        unlink(path);
    }
}

/* Malformed files and bad arguments through the public API. */
static void test_refusals(void **state)
{
    (void)state;
    struct tvm t;
    uint8_t *ram = start_filled(&t);
    int fds = count_open_fds();
    uint64_t entry = 0x5555;

    assert_int_equal(vmm_boot_elf(t.vm, "/nonexistent/guest.elf", &entry), VMM_ENOENT);
    assert_non_null(strstr(vmm_error_last()->message, "/nonexistent/guest.elf"));
    assert_int_equal(vmm_boot_elf(t.vm, "/", &entry), VMM_EIO);
    assert_int_equal(vmm_boot_elf(NULL, "/", &entry), VMM_EINVAL);
    assert_int_equal(vmm_boot_elf(t.vm, NULL, &entry), VMM_EINVAL);

    struct image im;
    build(&im);
    im.ph[1].p_paddr = TEXT_GPA + 0x100; /* overlaps the text segment */
    const char *path = write_image(&im);
    assert_int_equal(vmm_boot_elf(t.vm, path, &entry), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "overlap in guest memory"));
    unlink(path);

    build(&im);
    im.ph[1].p_filesz = 0x100; /* past the end of the file */
    path = write_image(&im);
    assert_int_equal(vmm_boot_elf(t.vm, path, &entry), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "segment 1: file bytes"));
    unlink(path);

    build(&im);
    im.eh.e_machine = EM_AARCH64;
    path = write_image(&im);
    assert_int_equal(vmm_boot_elf(t.vm, path, &entry), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "is not x86-64"));
    unlink(path);

    assert_int_equal(entry, 0x5555);
    assert_int_equal(count_open_fds(), fds);
    assert_all_ff(ram);
    tvm_stop(&t);
}

int main(void)
{
    require_kvm("test_elf_boot");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boot_runs),
        cmocka_unit_test(test_outside_ram),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
