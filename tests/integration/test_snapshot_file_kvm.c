/* SPDX-License-Identifier: MIT */
/* Snapshot files with KVM: take, save, load, restore into a fresh VM of the
 * same shape, bit for bit, and the same run again; other shapes refused;
 * failed saves leave nothing behind; no fd leaks; an altered vCPU state is
 * refused at load or at restore, and the process carries on. */
#include <dirent.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "kvm_test.h"

#define MSR_STAR  0xc0000081u
#define MSR_LSTAR 0xc0000082u

/* ---- building VMs (the shapes of test_snapshot.c) ---- */

struct shape {
    unsigned int flags;
    uint64_t ram;
    bool extra_device;
};

static const struct shape basic = {0, RAM_SIZE, false};

static void build(struct tvm *t, const struct shape *sh, const char *guest)
{
    memset(t, 0, sizeof *t);
    vmm_vm_options o = VMM_VM_OPTIONS_INIT;
    o.flags = sh->flags;
    assert_int_equal(vmm_vm_create(&t->vm, &o), 0);
    assert_int_equal(vmm_mem_map(t->vm, 0, sh->ram, NULL, 0), 0);
    assert_int_equal(vmm_device_attach(&t->serial, t->vm, "serial", "{\"mmio\": 3489665024}"), 0);
    assert_int_equal(vmm_serial_set_output(t->serial, outbuf_cb, &t->out), 0);
    assert_int_equal(
        vmm_device_attach(NULL, t->vm, "debug-exit", "{\"mmio\": 3489669120, \"size\": 1}"), 0);
    if (sh->extra_device)
        assert_int_equal(vmm_device_attach(NULL, t->vm, "debug-exit", "{\"port\": 1281}"), 0);
    assert_int_equal(vmm_vcpu_create(&t->vcpu, t->vm, 0), 0);
    if (guest)
        assert_int_equal(vmm_boot_flat(t->vm, guest_path(guest), GUEST_LOAD, NULL), 0);
    tvm_setup_cpu(t->vcpu, guest ? VMM_X86_LONG : VMM_X86_REAL, guest ? 3 : 0,
                  VMM_X86_EXCEPTIONS_NONE);
}

struct vm_state {
    vmm_regs regs;
    vmm_sregs sregs;
    vmm_fpu fpu;
    vmm_msr msrs[2];
    uint8_t serial[1100];
    size_t serial_len;
    uint8_t *ram;
};

static void capture(struct tvm *t, struct vm_state *s)
{
    memset(s, 0, sizeof *s);
    expect_ok(vmm_vcpu_get_regs(t->vcpu, &s->regs), "get regs");
    expect_ok(vmm_vcpu_get_sregs(t->vcpu, &s->sregs), "get sregs");
    expect_ok(vmm_vcpu_get_fpu(t->vcpu, &s->fpu), "get fpu");
    s->msrs[0].index = MSR_STAR;
    s->msrs[1].index = MSR_LSTAR;
    expect_ok(vmm_vcpu_get_msrs(t->vcpu, s->msrs, 2), "get msrs");
    expect_ok(vmm_device_save(t->serial, s->serial, sizeof s->serial, &s->serial_len),
              "save serial");
    s->ram = malloc(RAM_SIZE);
    assert_non_null(s->ram);
    expect_ok(vmm_mem_read(t->vm, 0, s->ram, RAM_SIZE), "read RAM");
}

/* Bit-identical: RAM, registers (the segment structs have no padding holes
 * worth comparing field by field here: memcmp of what KVM returned), x87/SSE,
 * MSRs and the serial port's saved state. */
static void assert_same(const struct vm_state *a, const struct vm_state *b)
{
    for (size_t i = 0; i < RAM_SIZE; i++)
        if (a->ram[i] != b->ram[i])
            fail_msg("RAM differs at 0x%zx: 0x%02x vs 0x%02x", i, a->ram[i], b->ram[i]);
    if (memcmp(&a->regs, &b->regs, sizeof a->regs) != 0)
        fail_msg("general registers differ (rip 0x%llx vs 0x%llx)", (unsigned long long)a->regs.rip,
                 (unsigned long long)b->regs.rip);
    assert_int_equal(a->sregs.cr0, b->sregs.cr0);
    assert_int_equal(a->sregs.cr3, b->sregs.cr3);
    assert_int_equal(a->sregs.cr4, b->sregs.cr4);
    assert_int_equal(a->sregs.efer, b->sregs.efer);
    assert_int_equal(a->sregs.cs.selector, b->sregs.cs.selector);
    assert_int_equal(a->sregs.ss.selector, b->sregs.ss.selector);
    assert_int_equal(a->sregs.gdt.base, b->sregs.gdt.base);
    assert_int_equal(a->sregs.idt.base, b->sregs.idt.base);
    assert_int_equal(a->sregs.tr.base, b->sregs.tr.base);
    assert_memory_equal(a->fpu.xmm, b->fpu.xmm, sizeof a->fpu.xmm);
    assert_int_equal(a->fpu.mxcsr, b->fpu.mxcsr);
    assert_int_equal(a->fpu.fcw, b->fpu.fcw);
    for (int i = 0; i < 2; i++)
        assert_int_equal(a->msrs[i].value, b->msrs[i].value);
    assert_int_equal(a->serial_len, b->serial_len);
    assert_memory_equal(a->serial, b->serial, a->serial_len);
}

static void release(struct vm_state *s)
{
    free(s->ram);
    s->ram = NULL;
}

/* ---- files ---- */

static char dir[64];

static int make_dir(void **st)
{
    (void)st;
    strcpy(dir, "/tmp/test_snapshot_file_kvm.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static unsigned int dir_entries(const char *d)
{
    DIR *h = opendir(d);
    assert_non_null(h);
    unsigned int n = 0;
    struct dirent *e;
    while ((e = readdir(h)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(h);
    return n;
}

static int remove_dir(void **st)
{
    (void)st;
    DIR *h = opendir(dir);
    struct dirent *e;
    char p[512];
    while (h && (e = readdir(h)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (h)
        closedir(h);
    return rmdir(dir);
}

static const char *file(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void spit(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    fclose(f);
}

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (c & 1 ? 0x82f63b78u : 0);
    }
    return ~c;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8); /* x86-64 only: little-endian like the format */
    return v;
}

/* The offset of the first vCPU blob in a snapshot file (docs/snapshot-format.md:
 * sections after the 64-byte header; a vCPU section's blob follows its 16-byte
 * section header and 16-byte vCPU header). */
static size_t vcpu_blob_offset(const uint8_t *p, size_t len)
{
    size_t off = 64;
    while (off + 16 <= len - 8) {
        uint32_t type;
        memcpy(&type, p + off, 4);
        if (type == 3)
            return off + 32;
        off += 16 + (size_t)le64(p + off + 8);
    }
    fail_msg("no vCPU section");
    return 0;
}

static void fix_crc(uint8_t *p, size_t len)
{
    uint32_t c = crc32c(p, len - 8);
    memcpy(p + len - 8, &c, 4);
}

/* ---- 1: save, load, restore into a fresh VM, re-run ---- */

static vmm_snapshot *take_state_snapshot(struct tvm *t, struct vm_state *s0)
{
    build(t, &basic, "snap_state");
    vmm_msr m[2] = {{MSR_STAR, 0x0023001000000000ull}, {MSR_LSTAR, 0xffffffff81000000ull}};
    expect_ok(vmm_vcpu_set_msrs(t->vcpu, m, 2), "set msrs");
    /* Input waiting in the serial port's FIFO is device state too. */
    assert_int_equal(vmm_serial_input(t->serial, "queued", 6), 6);
    vmm_snapshot *snap;
    expect_ok(vmm_snapshot_take(t->vm, &snap), "take");
    capture(t, s0);
    return snap;
}

static void test_round_trip(void **st)
{
    (void)st;
    struct tvm t;
    struct vm_state s0, s1, s2, s3;
    vmm_snapshot *snap = take_state_snapshot(&t, &s0);
    expect_ok(vmm_snapshot_save(snap, file("a.snap")), "save");
    vmm_snapshot *loaded;
    expect_ok(vmm_snapshot_load(file("a.snap"), &loaded), "load");
    size_t alen, blen;
    uint8_t *a = slurp(file("a.snap"), &alen);
    fprintf(stderr, "a snapshot of a 2 MiB VM: %zu bytes in memory, %zu in the file\n",
            vmm_snapshot_memory_size(snap), alen);
    /* A loaded snapshot saves to the same bytes. */
    expect_ok(vmm_snapshot_save(loaded, file("b.snap")), "save loaded");
    uint8_t *b = slurp(file("b.snap"), &blen);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, alen);
    free(a);
    free(b);
    assert_int_equal(dir_entries(dir), 2);

    /* The original runs on. */
    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, 0x5e);
    capture(&t, &s1);
    assert_int_not_equal(s0.regs.rip, s1.regs.rip);

    /* A fresh VM of the same shape, in another state entirely, becomes the
     * snapshot bit for bit and runs the same way. */
    struct tvm u;
    build(&u, &basic, NULL);
    expect_ok(vmm_snapshot_restore(u.vm, loaded), "restore the loaded snapshot");
    vmm_snapshot_stats sts;
    expect_ok(vmm_snapshot_last_restore(u.vm, &sts), "stats");
    assert_int_equal(sts.full, 1);
    capture(&u, &s2);
    assert_same(&s0, &s2);
    x = tvm_run(&u);
    assert_int_equal(x.reason, VMM_EXIT_STATUS);
    assert_int_equal(x.status.code, 0x5e);
    capture(&u, &s3);
    assert_same(&s1, &s3);
    assert_int_equal(u.out.len, t.out.len);
    assert_memory_equal(u.out.data, t.out.data, t.out.len);
    /* From now on u's memory derives from the loaded snapshot. */
    expect_ok(vmm_snapshot_restore(u.vm, loaded), "restore again");
    expect_ok(vmm_snapshot_last_restore(u.vm, &sts), "stats");
    assert_int_equal(sts.full, 0);
    release(&s2);
    capture(&u, &s2);
    assert_same(&s0, &s2);

    /* Other shapes are refused before anything changes. */
    struct shape sh = basic;
    sh.ram = 2 * RAM_SIZE;
    struct tvm v;
    build(&v, &sh, NULL);
    assert_int_equal(vmm_snapshot_restore(v.vm, loaded), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "RAM region"));
    tvm_stop(&v);
    sh = basic;
    sh.flags = VMM_VM_IRQCHIP;
    build(&v, &sh, NULL);
    assert_int_equal(vmm_snapshot_restore(v.vm, loaded), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "flags"));
    tvm_stop(&v);
    sh = basic;
    sh.extra_device = true;
    build(&v, &sh, NULL);
    assert_int_equal(vmm_snapshot_restore(v.vm, loaded), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "devices"));
    tvm_stop(&v);

    unlink(file("a.snap"));
    unlink(file("b.snap"));
    release(&s0);
    release(&s1);
    release(&s2);
    release(&s3);
    vmm_snapshot_free(loaded);
    vmm_snapshot_free(snap);
    tvm_stop(&u);
    tvm_stop(&t);
}

/* ---- 2: failed saves, fds ---- */

static void test_save_failures_and_fds(void **st)
{
    (void)st;
    struct tvm t;
    struct vm_state s0;
    vmm_snapshot *snap = take_state_snapshot(&t, &s0);
    release(&s0);

    assert_int_equal(vmm_snapshot_save(snap, "/nonexistent-libvmm-dir/s.snap"), VMM_ENOENT);
    assert_non_null(strstr(vmm_error_last()->message, "/nonexistent-libvmm-dir/s.snap"));
    /* The target is a directory: written, then the rename fails; the temporary
     * file is removed and the directory untouched. */
    assert_int_equal(mkdir(file("sub"), 0700), 0);
    assert_int_equal(vmm_snapshot_save(snap, file("sub")), VMM_EINVAL);
    assert_int_equal(dir_entries(dir), 1);
    assert_int_equal(dir_entries(file("sub")), 0);
    assert_int_equal(rmdir(file("sub")), 0);
    /* A file system that takes no new files. */
    assert_true(vmm_snapshot_save(snap, "/proc/self/s.snap") < 0);
    assert_non_null(strstr(vmm_error_last()->message, "/proc/self/s.snap"));
    assert_int_equal(dir_entries(dir), 0);

    /* Many cycles: no fd, temporary file or memory is left over. */
    int fds0 = count_open_fds();
    for (int i = 0; i < 50; i++) {
        expect_ok(vmm_snapshot_save(snap, file("cycle.snap")), "save");
        vmm_snapshot *l;
        expect_ok(vmm_snapshot_load(file("cycle.snap"), &l), "load");
        expect_ok(vmm_snapshot_restore(t.vm, l), "restore");
        vmm_snapshot_free(l);
        vmm_snapshot *bad = NULL;
        assert_int_equal(vmm_snapshot_load(file("missing.snap"), &bad), VMM_ENOENT);
    }
    assert_int_equal(count_open_fds(), fds0);
    assert_int_equal(dir_entries(dir), 1);
    unlink(file("cycle.snap"));
    vmm_snapshot_free(snap);
    tvm_stop(&t);
}

/* ---- 3: an altered vCPU state ---- */

static void test_altered_vcpu(void **st)
{
    (void)st;
    struct tvm t;
    struct vm_state s0, s1;
    vmm_snapshot *snap = take_state_snapshot(&t, &s0);
    expect_ok(vmm_snapshot_save(snap, file("good.snap")), "save");
    size_t len;
    uint8_t *good = slurp(file("good.snap"), &len);
    size_t blob = vcpu_blob_offset(good, len);
    uint8_t *p = malloc(len);
    assert_non_null(p);

    /* Structurally broken (the blob's magic): refused by the load. */
    memcpy(p, good, len);
    p[blob] ^= 0xff;
    fix_crc(p, len);
    spit(file("bad.snap"), p, len);
    vmm_snapshot *l = NULL;
    assert_int_equal(vmm_snapshot_load(file("bad.snap"), &l), VMM_EINVAL);
    assert_null(l);
    assert_non_null(strstr(vmm_error_last()->message, "vCPU state"));

    /* Well-formed but impossible register values: the load takes them (it
     * cannot know what KVM accepts), the restore fails with KVM's refusal, and
     * the VM is restored properly afterwards. The blob's layout: a 32-byte
     * header, struct kvm_regs, struct kvm_sregs (lib/hv/kvm_x86_64_blob.h). */
    size_t sregs = blob + 32 + sizeof(struct kvm_regs);
    static const struct {
        const char *what;
        size_t at;
        uint64_t bits;
    } alter[] = {
        {"CR0 bit 63", offsetof(struct kvm_sregs, cr0), 1ull << 63},
        {"CR4 bit 63", offsetof(struct kvm_sregs, cr4), 1ull << 63},
        {"EFER bit 63", offsetof(struct kvm_sregs, efer), 1ull << 63},
    };
    struct tvm u;
    build(&u, &basic, NULL);
    unsigned int refused = 0;
    for (size_t i = 0; i < sizeof alter / sizeof alter[0]; i++) {
        memcpy(p, good, len);
        uint64_t v = le64(p + sregs + alter[i].at) | alter[i].bits;
        memcpy(p + sregs + alter[i].at, &v, 8);
        fix_crc(p, len);
        spit(file("bad.snap"), p, len);
        expect_ok(vmm_snapshot_load(file("bad.snap"), &l), "load of a well-formed file");
        int rc = vmm_snapshot_restore(u.vm, l);
        fprintf(stderr, "restore with %s: %s\n", alter[i].what,
                rc ? vmm_error_last()->message : "accepted by KVM");
        if (rc != 0) {
            refused++;
            assert_non_null(strstr(vmm_error_last()->message, "vmm_snapshot_restore"));
        }
        vmm_snapshot_free(l);
        /* Whatever happened, the good snapshot restores and runs as before. */
        expect_ok(vmm_snapshot_load(file("good.snap"), &l), "load");
        expect_ok(vmm_snapshot_restore(u.vm, l), "restore the good snapshot");
        struct vm_state s2;
        capture(&u, &s2);
        assert_same(&s0, &s2);
        release(&s2);
        vmm_exit x = tvm_run(&u);
        assert_int_equal(x.reason, VMM_EXIT_STATUS);
        assert_int_equal(x.status.code, 0x5e);
        vmm_snapshot_free(l);
    }
    assert_true(refused > 0);
    capture(&u, &s1);
    release(&s1);

    unlink(file("good.snap"));
    unlink(file("bad.snap"));
    free(p);
    free(good);
    release(&s0);
    vmm_snapshot_free(snap);
    tvm_stop(&u);
    tvm_stop(&t);
}

int main(void)
{
    require_kvm("test_snapshot_file_kvm");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_save_failures_and_fds),
        cmocka_unit_test(test_altered_vcpu),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
