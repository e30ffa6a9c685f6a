/* SPDX-License-Identifier: MIT */
/* bench_core: libvmm against hand-written raw KVM code, measured in one run.
 *
 * Output (stdout), one line per figure:
 *   RATIO  <name> <value>          libvmm time / raw (or native) time; 1.000 = no overhead
 *   DETAIL <name> <value> <unit>   the absolute figures behind the ratios
 *
 * Figures:
 *   exit_roundtrip  mean time of one port-I/O exit round trip (guest `out %al, $0x80`,
 *                   unclaimed, back to the caller) through vmm_vcpu_run(), divided by
 *                   the same through a raw KVM_RUN loop. Both sides run the same bytes
 *                   (`1: out %al, $0x80 ; jmp 1b`) at CPL0 in 64-bit long mode with the
 *                   same GDT/TSS/page-table layout (the raw side builds it by hand).
 *   vm_create       open /dev/kvm + create VM + map 2 MiB + create vCPU + set up real
 *                   mode + run to the first exit (same guest bytes, real mode both sides),
 *                   libvmm divided by raw. Teardown is timed separately on both sides and
 *                   excluded from the ratio (reported as DETAIL vm_destroy_*).
 *   cpl3_compute    the CPL3 compute guest (cpl3_compute.bin) running N iterations: wall
 *                   time from vmm_vcpu_run() to the MMIO exit with the result, divided by
 *                   vmm_guest_compute(N) compiled natively from the same guest/compute.c.
 *
 * Method: the machine is shared and noisy, so libvmm and raw runs are interleaved
 * (alternating which side goes first), every figure is measured over several rounds
 * and the reported ratio is the median of the per-round ratios. Exit 77 if /dev/kvm
 * cannot be used. `--quick` shortens everything to a few seconds (smoke test). */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <libvmm/vmm.h>

#include "../guest/compute.h"

#define BENCH_NAME "bench_core"
#include "bench_util.h"
#include "raw_x86.h"
#define RAM_SIZE    (2u << 20)
#define GUEST_LOAD  0x10000u
#define GUEST_STACK 0x9000u
#define REAL_STACK  0x8000u
#define TABLES      0x9000u /* same place vmm_x86_setup() uses by default */
#define EXIT_PORT   0x80u
#define RESULT_MMIO 0xd0000008ull

/* 1: out %al, $0x80 ; jmp 1b -- identical in real mode and long mode. */
static const uint8_t loop_code[] = {0xe6, EXIT_PORT, 0xeb, 0xfc};

/* ---- parameters ---- */

struct params {
    int exit_rounds;       /* rounds of the exit round-trip measurement */
    int exit_alternations; /* libvmm/raw batch pairs per round */
    int exit_batch;        /* exits per batch */
    int create_rounds;
    int create_iters; /* VM creations per side per round */
    int compute_rounds;
    double compute_target_s; /* native run time N is chosen for */
};

static const struct params full = {21, 4, 4000, 21, 60, 11, 0.4};
static const struct params quick = {3, 2, 500, 3, 4, 3, 0.03};

/* ---- helpers ---- */

/* ---- raw KVM ---- */

static int raw_kvm_fd = -1;          /* used only to probe capabilities and fetch CPUID once */
static int raw_has_tss_addr;         /* KVM_CAP_SET_TSS_ADDR */
static struct kvm_cpuid2 *raw_cpuid; /* KVM_GET_SUPPORTED_CPUID, fetched once */

struct raw_vm {
    int kvm_fd, vm_fd, vcpu_fd;
    uint8_t *mem;
    struct kvm_run *run;
    size_t run_size;
};

/* Process-wide facts, fetched once, the same way libvmm caches its CPUID table. */
static void raw_init(void)
{
    raw_kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (raw_kvm_fd < 0) {
        fprintf(stderr, "bench_core: cannot open /dev/kvm: %s\n", strerror(errno));
        exit(no_kvm_code());
    }
    raw_has_tss_addr = ioctl(raw_kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0;
    raw_cpuid = raw_supported_cpuid(raw_kvm_fd);
}

/* Everything a minimal VMM does to get a vCPU: open /dev/kvm, create the VM (with the
 * real-mode TSS area VMX needs, as libvmm sets), 2 MiB of anonymous RAM at 0, one vCPU
 * with its run area and the CPUID table, and the guest code at GUEST_LOAD. */
static void raw_create(struct raw_vm *r)
{
    r->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (r->kvm_fd < 0)
        raw_fail("open /dev/kvm");
    if (ioctl(r->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        raw_fail("KVM_GET_API_VERSION");
    r->vm_fd = raw_vm_create(r->kvm_fd, raw_has_tss_addr, &r->run_size);

    r->mem = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r->mem == MAP_FAILED)
        raw_fail("mmap guest RAM");
    r->vcpu_fd = raw_vcpu_create(r->vm_fd, r->mem, RAM_SIZE, 0, raw_cpuid, r->run_size, &r->run);
    memcpy(r->mem + GUEST_LOAD, loop_code, sizeof loop_code);
}

static void raw_destroy(struct raw_vm *r)
{
    munmap(r->run, r->run_size);
    close(r->vcpu_fd);
    close(r->vm_fd);
    close(r->kvm_fd);
    munmap(r->mem, RAM_SIZE);
}

/* Real mode at GUEST_LOAD, as vmm_x86_setup(VMM_X86_REAL) does: CS base = entry. */
static void raw_setup_real(struct raw_vm *r)
{
    struct kvm_sregs s;
    if (ioctl(r->vcpu_fd, KVM_GET_SREGS, &s) < 0)
        raw_fail("KVM_GET_SREGS");
    s.cs.base = GUEST_LOAD;
    s.cs.selector = GUEST_LOAD >> 4;
    s.cs.limit = 0xffff;
    struct kvm_segment d = s.ds;
    d.base = 0;
    d.selector = 0;
    d.limit = 0xffff;
    s.ds = s.es = s.fs = s.gs = s.ss = d;
    s.cr0 &= ~(1ull | (1ull << 31));
    s.efer = 0;
    if (ioctl(r->vcpu_fd, KVM_SET_SREGS, &s) < 0)
        raw_fail("KVM_SET_SREGS");
    struct kvm_regs g;
    memset(&g, 0, sizeof g);
    g.rip = 0;
    g.rsp = REAL_STACK;
    g.rflags = 2;
    if (ioctl(r->vcpu_fd, KVM_SET_REGS, &g) < 0)
        raw_fail("KVM_SET_REGS");
}

/* 64-bit long mode at CPL0 with the tables vmm_x86_setup() builds at TABLES. */
static void raw_setup_long_cpl0(struct raw_vm *r)
{
    const char *failed = raw_setup_long(r->mem, TABLES, r->vcpu_fd, 0, GUEST_LOAD, GUEST_STACK);
    if (failed)
        raw_fail(failed);
}

/* One KVM_RUN that must end in the guest's `out` to port 0x80. */
static inline void raw_run_to_exit(struct raw_vm *r)
{
    if (ioctl(r->vcpu_fd, KVM_RUN, 0) < 0)
        raw_fail("KVM_RUN");
    if (r->run->exit_reason != KVM_EXIT_IO || r->run->io.port != EXIT_PORT)
        die("raw KVM: unexpected exit %u (port 0x%x)", r->run->exit_reason,
            (unsigned int)r->run->io.port);
}

/* ---- libvmm ---- */

struct lib_vm {
    vmm_vm *vm;
    vmm_vcpu *vcpu;
};

static void lib_create(struct lib_vm *l, vmm_x86_mode mode)
{
    vmm_check(vmm_vm_create(&l->vm, NULL), "vmm_vm_create");
    vmm_check(vmm_mem_map(l->vm, 0, RAM_SIZE, NULL, 0), "vmm_mem_map");
    vmm_check(vmm_vcpu_create(&l->vcpu, l->vm, 0), "vmm_vcpu_create");
    vmm_check(vmm_mem_write(l->vm, GUEST_LOAD, loop_code, sizeof loop_code), "vmm_mem_write");
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.mode = mode;
    o.cpl = 0;
    o.entry = GUEST_LOAD;
    o.stack = mode == VMM_X86_REAL ? REAL_STACK : GUEST_STACK;
    vmm_check(vmm_x86_setup(l->vcpu, &o), "vmm_x86_setup");
}

static inline void lib_run_to_exit(struct lib_vm *l)
{
    vmm_exit x;
    vmm_check(vmm_vcpu_run(l->vcpu, &x), "vmm_vcpu_run");
    if (x.reason != VMM_EXIT_IO || x.io.port != EXIT_PORT)
        die("libvmm: unexpected exit %s (port 0x%x)", vmm_exit_reason_name(x.reason),
            (unsigned int)x.io.port);
}

/* ---- exit_roundtrip ---- */

static double lib_exit_batch(struct lib_vm *l, int n)
{
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        lib_run_to_exit(l);
    return now_s() - t0;
}

static double raw_exit_batch(struct raw_vm *r, int n)
{
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        raw_run_to_exit(r);
    return now_s() - t0;
}

static void bench_exit_roundtrip(const struct params *p)
{
    struct lib_vm l;
    struct raw_vm r;
    lib_create(&l, VMM_X86_LONG);
    raw_create(&r);
    raw_setup_long_cpl0(&r);
    /* Warm-up: first entries build shadow page tables and fault the code page in. */
    lib_exit_batch(&l, p->exit_batch / 4 + 1);
    raw_exit_batch(&r, p->exit_batch / 4 + 1);

    double *ratio = calloc((size_t)p->exit_rounds, sizeof *ratio);
    double *lib_us = calloc((size_t)p->exit_rounds, sizeof *lib_us);
    double *raw_us = calloc((size_t)p->exit_rounds, sizeof *raw_us);
    if (!ratio || !lib_us || !raw_us)
        die("out of memory");
    for (int k = 0; k < p->exit_rounds; k++) {
        double tl = 0, tr = 0;
        for (int a = 0; a < p->exit_alternations; a++) {
            if ((k + a) % 2 == 0) {
                tl += lib_exit_batch(&l, p->exit_batch);
                tr += raw_exit_batch(&r, p->exit_batch);
            } else {
                tr += raw_exit_batch(&r, p->exit_batch);
                tl += lib_exit_batch(&l, p->exit_batch);
            }
        }
        double n = (double)p->exit_alternations * p->exit_batch;
        lib_us[k] = tl / n * 1e6;
        raw_us[k] = tr / n * 1e6;
        ratio[k] = lib_us[k] / raw_us[k];
    }
    vmm_vm_destroy(l.vm);
    raw_destroy(&r);

    ratio_report(true, "exit_roundtrip", ratio, p->exit_rounds);
    printf("DETAIL exit_roundtrip_libvmm_us %.3f us\n", median(lib_us, p->exit_rounds));
    printf("DETAIL exit_roundtrip_raw_us %.3f us\n", median(raw_us, p->exit_rounds));
    printf("DETAIL exit_roundtrip_exits_per_side_per_round %d count\n",
           p->exit_alternations * p->exit_batch);
    free(ratio);
    free(lib_us);
    free(raw_us);
}

/* ---- vm_create ---- */

/* Timed: create through the first exit. Destroy is timed apart (excluded from the ratio). */
static void lib_create_once(double *create_s, double *destroy_s)
{
    struct lib_vm l;
    double t0 = now_s();
    lib_create(&l, VMM_X86_REAL);
    lib_run_to_exit(&l);
    double t1 = now_s();
    vmm_vm_destroy(l.vm);
    double t2 = now_s();
    *create_s += t1 - t0;
    *destroy_s += t2 - t1;
}

static void raw_create_once(double *create_s, double *destroy_s)
{
    struct raw_vm r;
    double t0 = now_s();
    raw_create(&r);
    raw_setup_real(&r);
    raw_run_to_exit(&r);
    double t1 = now_s();
    raw_destroy(&r);
    double t2 = now_s();
    *create_s += t1 - t0;
    *destroy_s += t2 - t1;
}

static void bench_vm_create(const struct params *p)
{
    int n = p->create_rounds;
    double *ratio = calloc((size_t)n, sizeof *ratio);
    double *lib_us = calloc((size_t)n, sizeof *lib_us), *raw_us = calloc((size_t)n, sizeof *raw_us);
    double *lib_d_us = calloc((size_t)n, sizeof *lib_d_us);
    double *raw_d_us = calloc((size_t)n, sizeof *raw_d_us);
    if (!ratio || !lib_us || !raw_us || !lib_d_us || !raw_d_us)
        die("out of memory");
    double junk = 0, junk2 = 0;
    lib_create_once(&junk, &junk2); /* warm-up: libvmm's process-wide CPUID cache, */
    raw_create_once(&junk, &junk2); /* code paths, allocator */

    for (int k = 0; k < n; k++) {
        double lc = 0, ld = 0, rc = 0, rd = 0;
        for (int i = 0; i < p->create_iters; i++) {
            if ((k + i) % 2 == 0) {
                lib_create_once(&lc, &ld);
                raw_create_once(&rc, &rd);
            } else {
                raw_create_once(&rc, &rd);
                lib_create_once(&lc, &ld);
            }
        }
        lib_us[k] = lc / p->create_iters * 1e6;
        raw_us[k] = rc / p->create_iters * 1e6;
        lib_d_us[k] = ld / p->create_iters * 1e6;
        raw_d_us[k] = rd / p->create_iters * 1e6;
        ratio[k] = lib_us[k] / raw_us[k];
    }
    ratio_report(true, "vm_create", ratio, n);
    printf("DETAIL vm_create_libvmm_us %.3f us\n", median(lib_us, n));
    printf("DETAIL vm_create_raw_us %.3f us\n", median(raw_us, n));
    printf("DETAIL vm_destroy_libvmm_us %.3f us\n", median(lib_d_us, n));
    printf("DETAIL vm_destroy_raw_us %.3f us\n", median(raw_d_us, n));
    printf("DETAIL vm_create_iterations_per_side_per_round %d count\n", p->create_iters);
    free(ratio);
    free(lib_us);
    free(raw_us);
    free(lib_d_us);
    free(raw_d_us);
}

/* ---- cpl3_compute ---- */

/* One run of the compute guest in a fresh VM; only vmm_vcpu_run() up to the result's
 * MMIO exit is timed. Returns the guest's result. */
static uint64_t guest_compute_once(uint64_t n, double *secs)
{
    vmm_vm *vm;
    vmm_vcpu *vcpu;
    char path[512];
    snprintf(path, sizeof path, "%s/cpl3_compute.bin", LIBVMM_GUEST_DIR);
    vmm_check(vmm_vm_create(&vm, NULL), "vmm_vm_create");
    vmm_check(vmm_mem_map(vm, 0, RAM_SIZE, NULL, 0), "vmm_mem_map");
    vmm_check(vmm_vcpu_create(&vcpu, vm, 0), "vmm_vcpu_create");
    vmm_check(vmm_boot_flat(vm, path, GUEST_LOAD, NULL), "vmm_boot_flat");
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.mode = VMM_X86_LONG;
    o.cpl = 3;
    o.entry = GUEST_LOAD;
    o.stack = GUEST_STACK;
    vmm_check(vmm_x86_setup(vcpu, &o), "vmm_x86_setup");
    vmm_check(vmm_device_attach(NULL, vm, "debug-exit", "{\"mmio\": 3489660928, \"size\": 4}"),
              "vmm_device_attach debug-exit");
    vmm_regs regs;
    vmm_check(vmm_vcpu_get_regs(vcpu, &regs), "vmm_vcpu_get_regs");
    regs.rdi = n;
    vmm_check(vmm_vcpu_set_regs(vcpu, &regs), "vmm_vcpu_set_regs");

    vmm_exit x;
    double t0 = now_s();
    int rc = vmm_vcpu_run(vcpu, &x);
    double t1 = now_s();
    vmm_check(rc, "vmm_vcpu_run");
    if (x.reason != VMM_EXIT_MMIO || x.mmio.addr != RESULT_MMIO || x.mmio.size != 8 ||
        !x.mmio.is_write)
        die("compute guest: expected an 8-byte MMIO write at 0x%llx, got %s at 0x%llx", RESULT_MMIO,
            vmm_exit_reason_name(x.reason), (unsigned long long)x.mmio.addr);
    uint64_t result;
    memcpy(&result, x.mmio.data, 8);
    vmm_check(vmm_vcpu_run(vcpu, &x), "vmm_vcpu_run");
    if (x.reason != VMM_EXIT_STATUS || x.status.code != 0x33)
        die("compute guest: expected debug-exit status 0x33, got %s",
            vmm_exit_reason_name(x.reason));
    vmm_vm_destroy(vm);
    *secs = t1 - t0;
    return result;
}

static uint64_t native_compute_once(uint64_t n, double *secs)
{
    double t0 = now_s();
    uint64_t r = vmm_guest_compute(n);
    *secs = now_s() - t0;
    return r;
}

static void bench_cpl3_compute(const struct params *p)
{
    /* Calibrate N natively so one native run takes about compute_target_s. */
    double t;
    uint64_t probe = 1u << 22;
    native_compute_once(probe, &t);
    while (t < 0.02 && probe < (1ull << 40)) {
        probe *= 2;
        native_compute_once(probe, &t);
    }
    uint64_t n = (uint64_t)((double)probe * p->compute_target_s / t);
    n = n < 1000000 ? 1000000 : n / 1000000 * 1000000;

    int rounds = p->compute_rounds;
    double *ratio = calloc((size_t)rounds, sizeof *ratio);
    double *gs = calloc((size_t)rounds, sizeof *gs), *ns = calloc((size_t)rounds, sizeof *ns);
    if (!ratio || !gs || !ns)
        die("out of memory");
    for (int k = 0; k < rounds; k++) {
        uint64_t g, h;
        if (k % 2 == 0) {
            g = guest_compute_once(n, &gs[k]);
            h = native_compute_once(n, &ns[k]);
        } else {
            h = native_compute_once(n, &ns[k]);
            g = guest_compute_once(n, &gs[k]);
        }
        if (g != h) {
            fprintf(stderr,
                    "bench_core: cpl3_compute: guest result 0x%016llx != native 0x%016llx "
                    "(N=%llu)\n",
                    (unsigned long long)g, (unsigned long long)h, (unsigned long long)n);
            exit(1);
        }
        ratio[k] = gs[k] / ns[k];
    }
    ratio_report(true, "cpl3_compute", ratio, rounds);
    printf("DETAIL cpl3_compute_guest_s %.3f s\n", median(gs, rounds));
    printf("DETAIL cpl3_compute_native_s %.3f s\n", median(ns, rounds));
    printf("DETAIL cpl3_compute_iterations %llu count\n", (unsigned long long)n);
    printf("DETAIL cpl3_compute_native_ns_per_iteration %.3f ns\n",
           median(ns, rounds) / (double)n * 1e9);
    free(ratio);
    free(gs);
    free(ns);
}

int main(int argc, char **argv)
{
    bool use_quick;
    vmm_host_info info;
    int rc = bench_begin(argc, argv, &use_quick, &info);
    if (rc >= 0)
        return rc;
    const struct params *p = use_quick ? &quick : &full;
    raw_init();

    double t0 = now_s();
    printf("DETAIL host_backend_pvm %d bool\n", info.pvm);
    bench_exit_roundtrip(p);
    bench_vm_create(p);
    bench_cpl3_compute(p);
    printf("DETAIL bench_total_s %.3f s\n", now_s() - t0);
    close(raw_kvm_fd);
    free(raw_cpuid);
    return 0;
}
