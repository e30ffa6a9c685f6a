/* SPDX-License-Identifier: MIT */
/* vmm_boot_linux against the real Debian kernel (fetched by
 * tests/linux/fetch_kernel.sh into LIBVMM_LINUX_DIR): boot_params, e820,
 * command line, initrd, MP table and the entry state checked against the
 * boot protocol; the vmlinux run until it stops; a full boot to a busybox
 * initramfs where the host can run a kernel at a usable speed. */
#include "kvm_test.h"

#include <stdbool.h>
#include <stdlib.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB       (1ull << 20)
#define RAM       (256 * MIB)
#define RNG_IRQ   (0xd0000000u)
#define RNG_POLL  (0xd0001000u)
#define LOG_SIZE  (512u << 10)
#define BP        0x7000u
#define CMDLINE   "console=ttyS0 earlyprintk=serial"
#define CR0_PE    1ull
#define CR0_PG    (1ull << 31)
#define CR4_PAE   (1ull << 5)
#define EFER_LME  (1ull << 8)
#define EFER_LMA  (1ull << 10)
#define RFLAGS_IF (1ull << 9)

static char kernel_dir[512];

static const char *kpath(const char *name)
{
    static char p[4][600];
    static unsigned int k;
    char *s = p[k++ % 4];
    snprintf(s, sizeof p[0], "%s/%s", kernel_dir, name);
    return s;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open (did the fetch_kernel fixture run?)", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)n);
    assert_non_null(d);
    assert_int_equal(fread(d, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return d;
}

static uint32_t rd32(const uint8_t *p, size_t off)
{
    uint32_t v;
    memcpy(&v, p + off, 4);
    return v;
}

static uint16_t rd16(const uint8_t *p, size_t off)
{
    uint16_t v;
    memcpy(&v, p + off, 2);
    return v;
}

static bool host_is_pvm(void)
{
    vmm_host_info info;
    expect_ok(vmm_host_info_get(&info), "vmm_host_info_get");
    return info.pvm != 0;
}

struct lvm {
    vmm_vm *vm;
    vmm_vcpu *vcpu[2];
    vmm_device *serial;
    char *log;
    size_t log_len;
};

static void log_cb(void *opaque, const uint8_t *buf, size_t len)
{
    struct lvm *l = opaque;
    for (size_t i = 0; i < len && l->log_len + 1 < LOG_SIZE; i++)
        l->log[l->log_len++] = (char)buf[i];
    l->log[l->log_len] = 0;
}

/* A VM for Linux: irqchip and PIT, RAM at 0, ncpus vCPUs, COM1 captured,
 * a virtio-rng with an interrupt line and one without. */
static void lvm_start(struct lvm *l, uint64_t ram, unsigned int ncpus, unsigned int flags)
{
    memset(l, 0, sizeof *l);
    vmm_vm_options o = VMM_VM_OPTIONS_INIT;
    o.flags = flags;
    expect_ok(vmm_vm_create(&l->vm, &o), "vmm_vm_create");
    expect_ok(vmm_mem_map(l->vm, 0, ram, NULL, 0), "vmm_mem_map");
    for (unsigned int i = 0; i < ncpus; i++)
        expect_ok(vmm_vcpu_create(&l->vcpu[i], l->vm, i), "vmm_vcpu_create");
    expect_ok(vmm_device_attach(&l->serial, l->vm, "serial", NULL), "serial");
    l->log = calloc(1, LOG_SIZE);
    assert_non_null(l->log);
    expect_ok(vmm_serial_set_output(l->serial, log_cb, l), "vmm_serial_set_output");
    char cfg[128];
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"irq\": 5}", RNG_IRQ);
    expect_ok(vmm_device_attach(NULL, l->vm, "virtio-rng", cfg), "virtio-rng");
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u}", RNG_POLL);
    expect_ok(vmm_device_attach(NULL, l->vm, "virtio-rng", cfg), "virtio-rng");
}

/* Whether the log holds a whole line starting with prefix: the kernel writes
 * to the serial port a character at a time, so a run that stops on a time
 * budget may stop in the middle of a line. */
static bool log_has_line(const struct lvm *l, const char *prefix)
{
    const char *p = strstr(l->log, prefix);
    return p && strchr(p, '\n');
}

static void lvm_stop(struct lvm *l)
{
    vmm_vm_destroy(l->vm);
    free(l->log);
}

static void guest_read(struct lvm *l, uint64_t gpa, void *buf, size_t len)
{
    expect_ok(vmm_mem_read(l->vm, gpa, buf, len), "vmm_mem_read");
}

/* Run vCPU 0 until an exit other than an unclaimed port access (Linux probes
 * PCI and legacy ports: reads get all ones, as on a bus with nothing there). */
static vmm_exit run_kernel(struct lvm *l, uint64_t budget_ns)
{
    expect_ok(vmm_vcpu_set_time_budget(l->vcpu[0], budget_ns), "budget");
    for (;;) {
        vmm_exit x;
        expect_ok(vmm_vcpu_run(l->vcpu[0], &x), "vmm_vcpu_run");
        if (x.reason == VMM_EXIT_IO) {
            if (!x.io.is_write)
                memset(x.io.data, 0xff, (size_t)x.io.size * x.io.count);
            continue;
        }
        if (x.reason == VMM_EXIT_MMIO) {
            if (!x.mmio.is_write)
                memset(x.mmio.data, 0xff, x.mmio.size);
            continue;
        }
        return x;
    }
}

static void check_entry_state(struct lvm *l, uint64_t entry)
{
    vmm_regs r;
    vmm_sregs s;
    expect_ok(vmm_vcpu_get_regs(l->vcpu[0], &r), "get_regs");
    expect_ok(vmm_vcpu_get_sregs(l->vcpu[0], &s), "get_sregs");
    assert_int_equal(r.rip, entry);
    assert_int_equal(r.rsi, BP);
    assert_false(r.rflags & RFLAGS_IF);
    /* 64-bit mode, paging on; __BOOT_CS 0x10 and __BOOT_DS 0x18, flat. */
    assert_true((s.cr0 & (CR0_PE | CR0_PG)) == (CR0_PE | CR0_PG));
    assert_true(s.cr4 & CR4_PAE);
    assert_true((s.efer & (EFER_LME | EFER_LMA)) == (EFER_LME | EFER_LMA));
    assert_int_equal(s.cs.selector, 0x10);
    assert_int_equal(s.cs.l, 1);
    assert_int_equal(s.ds.selector, 0x18);
    assert_int_equal(s.es.selector, 0x18);
    assert_int_equal(s.ss.selector, 0x18);
    /* The GDT in memory says the same: 0x10 is present 64-bit code, 0x18
     * present writable data. */
    uint64_t gdt[4];
    guest_read(l, s.gdt.base, gdt, sizeof gdt);
    assert_true(s.gdt.limit >= 0x1f);
    assert_int_equal((gdt[2] >> 40) & 0x9a, 0x9a); /* P, S, code, readable */
    assert_true(gdt[2] >> 53 & 1);                 /* L */
    assert_int_equal((gdt[3] >> 40) & 0x92, 0x92); /* P, S, writable data */
    /* Identity mapping of the entry, boot_params and the command line: walk
     * the tables (2 MiB pages). */
    uint64_t addrs[3] = {entry, BP, 0x20000};
    for (int i = 0; i < 3; i++) {
        uint64_t va = addrs[i], e;
        guest_read(l, (s.cr3 & ~0xfffull) + (va >> 39 & 511) * 8, &e, 8);
        assert_true(e & 1);
        guest_read(l, (e & 0xffffffffff000ull) + (va >> 30 & 511) * 8, &e, 8);
        assert_true(e & 1);
        guest_read(l, (e & 0xffffffffff000ull) + (va >> 21 & 511) * 8, &e, 8);
        assert_true((e & 0x81) == 0x81);
        assert_int_equal(e & 0xfffffffe00000ull, va & ~0x1fffffull);
    }
    if (l->vcpu[1]) {
        /* The application processor waits in its reset state for INIT/SIPI. */
        expect_ok(vmm_vcpu_get_regs(l->vcpu[1], &r), "get_regs 1");
        expect_ok(vmm_vcpu_get_sregs(l->vcpu[1], &s), "get_sregs 1");
        assert_int_equal(r.rip, 0xfff0);
        assert_int_equal(s.cs.selector, 0xf000);
        assert_false(s.cr0 & CR0_PE);
    }
}

static void check_e820(struct lvm *l, uint64_t ram)
{
    uint8_t bp[4096];
    guest_read(l, BP, bp, sizeof bp);
    assert_int_equal(bp[0x1e8], 3);
    const struct {
        uint64_t addr, size;
        uint32_t type;
    } want[3] = {{0, 0x9fc00, 1}, {0x9fc00, 0x400, 2}, {0x100000, ram - 0x100000, 1}};
    for (int i = 0; i < 3; i++) {
        uint64_t a, sz;
        memcpy(&a, bp + 0x2d0 + i * 20, 8);
        memcpy(&sz, bp + 0x2d0 + i * 20 + 8, 8);
        assert_int_equal(a, want[i].addr);
        assert_int_equal(sz, want[i].size);
        assert_int_equal(rd32(bp, 0x2d0 + i * 20 + 16), want[i].type);
    }
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

/* The MP table: floating pointer at 0xf0000, configuration table checksums,
 * one processor entry per vCPU (the first the bootstrap processor), the IOAPIC
 * with ID = number of vCPUs. */
static void check_mptable(struct lvm *l, unsigned int ncpus)
{
    uint8_t mp[1024];
    guest_read(l, 0xf0000, mp, sizeof mp);
    assert_memory_equal(mp, "_MP_", 4);
    assert_int_equal(sum(mp, 16), 0);
    assert_int_equal(mp[9], 4);
    uint32_t at = rd32(mp, 4);
    assert_true(at >= 0xf0000 && at < 0xf0000 + 512);
    const uint8_t *t = mp + (at - 0xf0000);
    assert_memory_equal(t, "PCMP", 4);
    uint16_t len = rd16(t, 4), count = rd16(t, 34);
    assert_true(len <= sizeof mp - (at - 0xf0000));
    assert_int_equal(sum(t, len), 0);
    assert_int_equal(rd32(t, 36), 0xfee00000u);
    unsigned int cpus = 0, ioapics = 0, irqs = 0;
    size_t o = 44;
    for (unsigned int i = 0; i < count; i++) {
        switch (t[o]) {
        case 0:
            assert_int_equal(t[o + 1], cpus);
            assert_int_equal(t[o + 3] & 3, cpus == 0 ? 3 : 1);
            cpus++;
            o += 20;
            break;
        case 2:
            assert_int_equal(t[o + 1], ncpus);
            assert_int_equal(rd32(t, o + 4), 0xfec00000u);
            ioapics++;
            o += 8;
            break;
        case 3:
            /* IRQ 0 on pin 2, as KVM routes the PIT; the others on their own pin. */
            assert_int_equal(t[o + 7], t[o + 5] == 0 ? 2 : t[o + 5]);
            irqs++;
            o += 8;
            break;
        default:
            o += 8;
        }
    }
    assert_int_equal(o, len);
    assert_int_equal(cpus, ncpus);
    assert_int_equal(ioapics, 1);
    assert_int_equal(irqs, 24);
}

/* bzImage: the setup header copied into boot_params with the loader's fields,
 * the protected-mode kernel at its load address, the initrd, the command line
 * naming the virtio device that has an interrupt line, e820, the MP table and
 * the 64-bit entry state. Then it runs: still decompressing itself (inside
 * its init_size buffer) when the budget ends. */
static void test_bzimage_loader(void **state)
{
    (void)state;
    size_t klen, ilen;
    uint8_t *k = read_file(kpath("bzImage"), &klen);
    uint8_t *initrd = read_file(kpath("initramfs.cpio"), &ilen);
    struct lvm l;
    lvm_start(&l, RAM, 2, VMM_VM_PIT);
    vmm_linux_boot b;
    expect_ok(vmm_linux_boot_init(&b, VMM_LINUX_BOOT_VERSION), "init");
    b.kernel = kpath("bzImage");
    b.initrd = kpath("initramfs.cpio");
    b.cmdline = CMDLINE;
    expect_ok(vmm_boot_linux(l.vm, &b), "vmm_boot_linux");

    uint8_t bp[4096];
    guest_read(&l, BP, bp, sizeof bp);
    size_t hdr_end = 0x202 + k[0x201];
    /* Fields the loader leaves as the kernel wrote them. */
    assert_int_equal(bp[0x1f1], k[0x1f1]);                       /* setup_sects */
    assert_int_equal(rd16(bp, 0x1fe), 0xaa55);                   /* boot_flag */
    assert_memory_equal(bp + 0x202, "HdrS", 4);                  /* header */
    assert_int_equal(rd16(bp, 0x206), rd16(k, 0x206));           /* version */
    assert_true(rd16(bp, 0x206) >= 0x20c);                       /* 64-bit entry */
    assert_int_equal(rd32(bp, 0x230), rd32(k, 0x230));           /* kernel_alignment */
    assert_int_equal(rd16(bp, 0x236), rd16(k, 0x236));           /* xloadflags */
    assert_int_equal(rd32(bp, 0x260), rd32(k, 0x260));           /* init_size */
    assert_int_equal(rd32(bp, 0x238), rd32(k, 0x238));           /* cmdline_size */
    assert_memory_equal(bp + 0x250, k + 0x250, hdr_end - 0x250); /* setup_data .. end */
    /* The loader's fields. */
    assert_int_equal(bp[0x210], 0xff); /* type_of_loader: undefined */
    assert_true(bp[0x211] & 1);        /* LOADED_HIGH */
    uint32_t load = rd32(bp, 0x214);   /* code32_start */
    assert_int_equal(load, 0x1000000); /* 16 MiB, kernel_alignment-aligned */
    size_t setup = ((k[0x1f1] ? k[0x1f1] : 4) + 1) * 512u;
    uint8_t *body = malloc(klen - setup);
    assert_non_null(body);
    guest_read(&l, load, body, klen - setup);
    assert_memory_equal(body, k + setup, klen - setup);
    free(body);

    uint32_t cmd = rd32(bp, 0x228);
    char line[2048];
    guest_read(&l, cmd, line, sizeof line);
    line[sizeof line - 1] = 0;
    if (host_is_pvm())
        assert_string_equal(line, CMDLINE " noxsave virtio_mmio.device=512@0xd0000000:5");
    else
        assert_string_equal(line, CMDLINE " virtio_mmio.device=512@0xd0000000:5");

    uint32_t rd = rd32(bp, 0x218), rdsize = rd32(bp, 0x21c);
    assert_int_equal(rdsize, ilen);
    assert_int_equal(rd % 4096, 0);
    assert_true(rd >= load + rd32(k, 0x260)); /* above the kernel's init_size */
    assert_true((uint64_t)rd + rdsize <= RAM);
    assert_true((uint64_t)rd + rdsize - 1 <= rd32(k, 0x22c)); /* initrd_addr_max */
    assert_true(RAM - ((uint64_t)rd + rdsize) < 4096);        /* at the top of RAM */
    uint8_t *got = malloc(ilen);
    assert_non_null(got);
    guest_read(&l, rd, got, ilen);
    assert_memory_equal(got, initrd, ilen);
    free(got);

    check_e820(&l, RAM);
    check_mptable(&l, 2);
    check_entry_state(&l, load + 0x200);

    vmm_exit x = run_kernel(&l, 2000000000ull);
    assert_int_equal(x.reason, VMM_EXIT_TIMEOUT);
    vmm_regs r;
    expect_ok(vmm_vcpu_get_regs(l.vcpu[0], &r), "get_regs");
    assert_true(r.rip >= load && r.rip < load + rd32(k, 0x260));
    lvm_stop(&l);
    free(k);
    free(initrd);
}

/* The uncompressed vmlinux: segments at their physical addresses, a setup
 * header built for it, the entry its e_entry. Linux then runs on vCPU 0: it
 * reads our e820 map, MP table (two processors) and command line (its log
 * says so). On a PVM
 * host, where CPL 0 code is emulated, the CPUID filter carries it past
 * cmpxchg16b and xrstor up to the int3 self-test, which KVM cannot emulate:
 * that must come back as an emulation failure with the instruction bytes and
 * RIP. Elsewhere it boots on; the test stops once the log shows the
 * command line was parsed. */
static void test_vmlinux_runs(void **state)
{
    (void)state;
    struct lvm l;
    lvm_start(&l, RAM, 2, VMM_VM_PIT);
    vmm_linux_boot b = VMM_LINUX_BOOT_INIT;
    b.kernel = kpath("vmlinux");
    b.cmdline = CMDLINE;
    expect_ok(vmm_boot_linux(l.vm, &b), "vmm_boot_linux");
    check_e820(&l, RAM);
    check_mptable(&l, 2);
    check_entry_state(&l, 0x1000000);

    bool pvm = host_is_pvm();
    vmm_exit x;
    if (pvm) {
        x = run_kernel(&l, 400000000000ull);
        if (x.reason != VMM_EXIT_INTERNAL_ERROR)
            fail_msg("exit %s; log:\n%s", vmm_exit_reason_name(x.reason), l.log);
        if (x.internal.insn_len < 1 || x.internal.insn[0] != 0xcc)
            fail_msg("emulation failure at 0x%llx on %02x %02x %02x %02x; log:\n%s",
                     (unsigned long long)x.internal.rip, x.internal.insn[0], x.internal.insn[1],
                     x.internal.insn[2], x.internal.insn[3],
                     l.log + (l.log_len > 3000 ? l.log_len - 3000 : 0));
        assert_int_equal(x.internal.suberror, 1); /* KVM_INTERNAL_ERROR_EMULATION */
        assert_true(x.internal.insn_len >= 1);
        assert_int_equal(x.internal.insn[0], 0xcc); /* int3 */
        assert_true(x.internal.rip >= 0xffffffff80000000ull);
    } else {
        x.reason = VMM_EXIT_TIMEOUT;
        for (int i = 0;
             i < 600 && x.reason == VMM_EXIT_TIMEOUT && !log_has_line(&l, "Kernel command line:");
             i++)
            x = run_kernel(&l, 100000000ull);
        if (!log_has_line(&l, "Kernel command line:"))
            fail_msg("no whole command line in the log; exit %s; log:\n%s",
                     vmm_exit_reason_name(x.reason),
                     l.log + (l.log_len > 3000 ? l.log_len - 3000 : 0));
    }
    assert_non_null(strstr(l.log, "Linux version "));
    assert_non_null(strstr(l.log, "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"));
    assert_non_null(
        strstr(l.log, "BIOS-e820: [mem 0x000000000009fc00-0x000000000009ffff] reserved"));
    assert_non_null(strstr(l.log, "BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable"));
    assert_non_null(strstr(l.log, "found SMP MP-table at [mem 0x000f0000-0x000f000f]"));
    /* Both processors from the MP table (the second waits for a SIPI the
     * kernel sends later), the IOAPIC after them. */
    assert_non_null(strstr(l.log, "Processor #0 (Bootup-CPU)"));
    assert_non_null(strstr(l.log, "Processor #1"));
    assert_non_null(
        strstr(l.log, "IOAPIC[0]: apic_id 2, version 17, address 0xfec00000, GSI 0-23"));
    assert_non_null(strstr(l.log, "smpboot: Allowing 2 CPUs"));
    const char *want = pvm ? "Kernel command line: " CMDLINE
                             " noxsave virtio_mmio.device=512@0xd0000000:5"
                           : "Kernel command line: " CMDLINE " virtio_mmio.device=512@0xd0000000:5";
    assert_non_null(strstr(l.log, want));
    if (pvm) /* the safe CPUID mode's effect: no XSAVE, so no xrstor */
        assert_non_null(strstr(l.log, "x86/fpu: x87 FPU will use FXSAVE"));
    lvm_stop(&l);
}

/* A full boot of the bzImage to the busybox initramfs, whose /init prints a
 * marker and powers off. Needs a host that runs guest kernel code natively. */
/* One of KVM's per-VM statistics for this process's VMs (debugfs,
 * /sys/kernel/debug/kvm/<pid>-<fd>/<name>), summed; -1 where debugfs is not
 * mounted or readable. */
static long long kvm_debugfs_stat(const char *name)
{
    DIR *d = opendir("/sys/kernel/debug/kvm");
    if (!d)
        return -1;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%ld-", (long)getpid());
    long long sum = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "/sys/kernel/debug/kvm/%s/%s", e->d_name, name);
        FILE *f = fopen(path, "r");
        long long v;
        if (f && fscanf(f, "%lld", &v) == 1)
            sum = (sum < 0 ? 0 : sum) + v;
        if (f)
            fclose(f);
    }
    closedir(d);
    return sum;
}

/* The bzImage and the busybox initramfs boot to the init's marker. How long
 * that took and how many VM exits KVM counted are reported, never checked. */
static void test_full_boot(void **state)
{
    (void)state;
    if (host_is_pvm()) {
        fprintf(stderr, "test_full_boot: SKIP: the host's KVM runs on PVM, which emulates guest "
                        "kernel code one instruction at a time: the bzImage does not finish "
                        "decompressing, and the vmlinux stops at its int3 self-test "
                        "(test_vmlinux_runs checks that)\n");
        skip();
    }
    struct lvm l;
    lvm_start(&l, RAM, 2, VMM_VM_PIT);
    vmm_linux_boot b = VMM_LINUX_BOOT_INIT;
    b.kernel = kpath("bzImage");
    b.initrd = kpath("initramfs.cpio");
    b.cmdline = "console=ttyS0 panic=-1 quiet";
    expect_ok(vmm_boot_linux(l.vm, &b), "vmm_boot_linux");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    vmm_exit x = {0};
    for (int i = 0; i < 1200 && !strstr(l.log, "LIBVMM-INITRAMFS-OK"); i++) {
        x = run_kernel(&l, 100000000ull);
        if (x.reason != VMM_EXIT_TIMEOUT && x.reason != VMM_EXIT_HLT)
            break;
    }
    if (!strstr(l.log, "LIBVMM-INITRAMFS-OK"))
        fail_msg("no marker (exit %s); log:\n%s", vmm_exit_reason_name(x.reason), l.log);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    long long exits = kvm_debugfs_stat("exits");
    if (exits >= 0)
        fprintf(stderr,
                "test_full_boot: booted to the init's marker in %.1f s on %s, %lld VM exits "
                "(I/O %lld, MMIO %lld, HLT %lld, IRQ window %lld; KVM's debugfs)\n",
                secs, getenv("LIBVMM_TEST_HOST") ? getenv("LIBVMM_TEST_HOST") : "this host", exits,
                kvm_debugfs_stat("io_exits"), kvm_debugfs_stat("mmio_exits"),
                kvm_debugfs_stat("halt_exits"), kvm_debugfs_stat("irq_window_exits"));
    else
        fprintf(stderr,
                "test_full_boot: booted to the init's marker in %.1f s (no exit count: "
                "/sys/kernel/debug/kvm is not readable)\n",
                secs);
    lvm_stop(&l);
}

/* What vmm_boot_linux refuses, each with its reason. */
static void test_errors(void **state)
{
    (void)state;
    struct lvm l;
    vmm_linux_boot b = VMM_LINUX_BOOT_INIT;

    /* No irqchip. */
    lvm_start(&l, RAM, 1, 0);
    b.kernel = kpath("vmlinux");
    assert_int_equal(vmm_boot_linux(l.vm, &b), VMM_ESTATE);
    assert_non_null(strstr(vmm_error_last()->message, "irqchip"));
    lvm_stop(&l);

    lvm_start(&l, RAM, 1, VMM_VM_PIT);
    assert_int_equal(vmm_boot_linux(NULL, &b), VMM_EINVAL);
    assert_int_equal(vmm_boot_linux(l.vm, NULL), VMM_EINVAL);
    b.kernel = NULL;
    assert_int_equal(vmm_boot_linux(l.vm, &b), VMM_EINVAL);
    b.kernel = "/nonexistent/kernel";
    assert_int_equal(vmm_boot_linux(l.vm, &b), VMM_ENOENT);
    /* Not a kernel: the initramfs. */
    b.kernel = kpath("initramfs.cpio");
    assert_int_equal(vmm_boot_linux(l.vm, &b), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "HdrS"));
    /* A bzImage cut short after its setup code. */
    size_t klen;
    uint8_t *k = read_file(kpath("bzImage"), &klen);
    char cut[] = "/tmp/test_linux.XXXXXX";
    int fd = mkstemp(cut);
    assert_true(fd >= 0);
    size_t setup = ((k[0x1f1] ? k[0x1f1] : 4) + 1) * 512u;
    assert_int_equal(write(fd, k, setup), (ssize_t)setup);
    close(fd);
    b.kernel = cut;
    assert_int_equal(vmm_boot_linux(l.vm, &b), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "setup_sects"));
    unlink(cut);
    free(k);
    /* Bad options. */
    b.kernel = kpath("vmlinux");
    b.flags = 0x80;
    assert_int_equal(vmm_boot_linux(l.vm, &b), VMM_EINVAL);
    b.flags = 0;
    b.cpuid = (vmm_linux_cpuid)7;
    assert_int_equal(vmm_boot_linux(l.vm, &b), VMM_EINVAL);
    b.cpuid = VMM_LINUX_CPUID_AUTO;
    b.version = 99;
    assert_int_equal(vmm_boot_linux(l.vm, &b), VMM_EVERSION);
    b.version = VMM_LINUX_BOOT_VERSION;
    /* A command line longer than the kernel's cmdline_size. */
    char *longline = malloc(5000);
    assert_non_null(longline);
    memset(longline, 'a', 4999);
    longline[4999] = 0;
    b.cmdline = longline;
    assert_int_equal(vmm_boot_linux(l.vm, &b), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "command line"));
    free(longline);
    b.cmdline = NULL;
    /* A missing initrd. */
    b.initrd = "/nonexistent/initrd";
    assert_int_equal(vmm_boot_linux(l.vm, &b), VMM_ENOENT);
    assert_non_null(strstr(vmm_error_last()->message, "initrd"));
    b.initrd = NULL;
    lvm_stop(&l);

    /* Too little RAM for the bzImage's init_size (it needs about 80 MiB from
     * 16 MiB on), and an initrd that does not fit above the vmlinux. */
    lvm_start(&l, 48 * MIB, 1, VMM_VM_PIT);
    b.kernel = kpath("bzImage");
    assert_int_equal(vmm_boot_linux(l.vm, &b), VMM_EFAULT);
    assert_non_null(strstr(vmm_error_last()->message, "init_size"));
    lvm_stop(&l);
    lvm_start(&l, 96 * MIB, 1, VMM_VM_PIT);
    b.kernel = kpath("vmlinux");
    b.initrd = kpath("vmlinux");
    assert_int_equal(vmm_boot_linux(l.vm, &b), VMM_EFAULT);
    assert_non_null(strstr(vmm_error_last()->message, "do not fit"));
    lvm_stop(&l);

    /* From a spec: the kernel's contents are checked when the VM is built. */
    char spec[1024];
    snprintf(spec, sizeof spec,
             "{\"memory\": {\"size\": \"256M\"}, \"boot\": {\"kind\": \"linux\", \"path\": "
             "\"%s\"}}",
             kpath("initramfs.cpio"));
    vmm_vm *sv = NULL;
    assert_int_equal(vmm_spec_check(spec, strlen(spec), NULL), 0);
    assert_int_equal(vmm_vm_create_from_spec(&sv, spec, strlen(spec), NULL, NULL), VMM_ECONFIG);
    assert_null(sv);
    assert_non_null(strstr(vmm_error_last()->message, "boot: "));
    assert_non_null(strstr(vmm_error_last()->message, "HdrS"));
    /* And a good one: vCPU 0 at the vmlinux's entry, boot_params in place. */
    snprintf(spec, sizeof spec,
             "{\"vcpus\": 2, \"memory\": {\"size\": \"256M\"}, \"boot\": {\"kind\": "
             "\"linux\", \"path\": \"%s\", \"cmdline\": \"quiet\", \"cpuid\": \"host\"}}",
             kpath("vmlinux"));
    vmm_spec_info info;
    expect_ok(vmm_vm_create_from_spec(&sv, spec, strlen(spec), NULL, &info), "spec");
    assert_int_equal(info.entry, 0x1000000);
    char got[16] = {0};
    expect_ok(vmm_mem_read(sv, 0x20000, got, sizeof got - 1), "cmdline");
    assert_string_equal(got, "quiet"); /* "host" CPUID: no noxsave */
    uint8_t mp[4];
    expect_ok(vmm_mem_read(sv, 0xf0000, mp, 4), "mptable");
    assert_memory_equal(mp, "_MP_", 4);
    vmm_vm_destroy(sv);

    /* No vCPU yet. */
    vmm_vm *vm;
    vmm_vm_options o = VMM_VM_OPTIONS_INIT;
    o.flags = VMM_VM_PIT;
    expect_ok(vmm_vm_create(&vm, &o), "create");
    expect_ok(vmm_mem_map(vm, 0, RAM, NULL, 0), "map");
    b.initrd = NULL;
    assert_int_equal(vmm_boot_linux(vm, &b), VMM_ESTATE);
    vmm_vm_destroy(vm);
}

/* test_linux [PATTERN]: only the cases whose names match PATTERN (cmocka's
 * wildcards), for chasing one case on a slow host. */
int main(int argc, char **argv)
{
    require_kvm(argv[0]);
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    const char *d = getenv("LIBVMM_LINUX_DIR");
    snprintf(kernel_dir, sizeof kernel_dir, "%s", d ? d : LIBVMM_LINUX_DIR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bzimage_loader),
        cmocka_unit_test(test_vmlinux_runs),
        cmocka_unit_test(test_full_boot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
