/* SPDX-License-Identifier: MIT */
/* bench_reset: one snapshot reset-and-run cycle of a small CPL3 target, libvmm
 * against a hand-written raw KVM loop and against Unicorn, measured in one run.
 *
 * Output (stdout), one line per figure, as bench_core:
 *   RATIO  <name> <value>          libvmm time / reference time; lower is better
 *   DETAIL <name> <value> <unit>   the absolute figures behind the ratios
 *
 * The target is guest/dirty_pages.bin, a CPL3 long-mode flat image: it reads n,
 * a stride and a spin count from 0x7000, writes one byte into each of n pages
 * (0x100000 + i * 4096), spins, and stores a status (n, folded with the spin
 * result) to a debug-exit register at MMIO 0xd0000000. Each VM runs it once
 * before its snapshot is taken at the entry point, so that the page tables'
 * accessed/dirty bits are already set and a cycle writes no page table.
 *
 * Figures, for n = 1, 16, 256:
 *   reset_<n>page             libvmm: vmm_snapshot_restore_flags(KEEP_PAGE_TABLES)
 *                             + vmm_vcpu_run to the STATUS exit, divided by a raw
 *                             KVM loop doing the same reset by hand (complete the
 *                             MMIO exit, KVM_GET_DIRTY_LOG, copy the dirty pages
 *                             back, the state ioctls libvmm issues) and KVM_RUN.
 *   reset_<n>page_vs_unicorn  the same libvmm cycle divided by Unicorn running the
 *                             same bytes: uc_context_restore + copying back the n
 *                             known pages + uc_emu_start to the MMIO store.
 *   DETAIL reset_<n>page_flush_*   plain vmm_snapshot_restore (drops KVM's shadow
 *                             page tables on shadow-paging hosts) against a raw loop
 *                             that also drops them (a one-page memory slot created
 *                             and deleted, as libvmm does).
 *   DETAIL reset_<n>page_*_us_*    where a cycle's time goes on each side.
 *   DETAIL reset_spin<S>_*    the n = 1 cycle with S rounds of guest compute (9-10
 *                             instructions each: a load, a multiply, a data-dependent
 *                             branch): KVM runs them natively at CPL3, Unicorn
 *                             translates them. DETAIL spin_* derive the cost of a
 *                             round on each side and the break-even round count.
 *
 * Both sides are checked: the status the guest reports, the number of pages the
 * reset copies back, and (outside the timed loops) that guest RAM after a run
 * differs from the snapshot in exactly the n expected bytes and equals it again
 * after the reset. Any mismatch fails the run.
 *
 * Method: as bench_core: the sides are interleaved (rotating which goes first),
 * over several rounds; ratios are medians of per-round ratios. Exit 77 if
 * /dev/kvm cannot be used. `--quick` runs a few seconds (smoke test). */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <unicorn/unicorn.h>

#include <libvmm/vmm.h>

#define BENCH_NAME "bench_reset"
#include "bench_util.h"
#include "raw_x86.h"

#define RAM_SIZE     (4u << 20)
#define PAGE         4096u
#define NPAGES       (RAM_SIZE / PAGE)
#define BITMAP_WORDS (NPAGES / 64)
#define GUEST_LOAD   0x10000u
#define GUEST_STACK  0x9000u
#define TABLES       0x9000u /* vmm_x86_setup()'s default */
#define INPUT        0x7000u /* the guest's input: struct input */
#define DATA_BASE    0x100000u
#define STRIDE       PAGE
#define EXIT_MMIO    0xd0000000ull

/* ---- parameters ---- */

struct params {
    int rounds;           /* rounds per page count */
    double side_round_s;  /* time each side runs per round */
    int breakdown_cycles; /* cycles timed phase by phase, per side */
    int spin_rounds;      /* rounds of the spin comparison */
    double spin_side_round_s;
    uint64_t spins[3]; /* spin counts of the compute comparison; the first 0 */
};

static const struct params full = {11, 0.12, 400, 5, 0.25, {0, 100000, 1000000}};
static const struct params quick = {3, 0.02, 40, 1, 0.02, {0, 10000, 100000}};

static const unsigned int page_counts[] = {1, 16, 256};

/* ---- helpers ---- */

static struct {
    uint8_t *bytes;
    size_t len;
    uint64_t done; /* address of the `jmp .` after the MMIO store */
    char path[512];
} image;

static void load_image(void)
{
    snprintf(image.path, sizeof image.path, "%s/dirty_pages.bin", LIBVMM_GUEST_DIR);
    FILE *f = fopen(image.path, "rb");
    if (!f)
        die("%s: %s", image.path, strerror(errno));
    image.bytes = xmalloc(PAGE);
    image.len = fread(image.bytes, 1, PAGE, f);
    fclose(f);
    /* The image ends with the store's `jmp .` (eb fe): Unicorn's stop address. */
    if (image.len < 2 || image.bytes[image.len - 2] != 0xeb || image.bytes[image.len - 1] != 0xfe)
        die("%s: does not end in `jmp .`", image.path);
    image.done = GUEST_LOAD + image.len - 2;
}

/* The guest's input at INPUT (see guest/dirty_pages.S). */
struct input {
    uint64_t n, stride, spin, key[5];
};

static struct input make_input(uint64_t n, uint64_t spin)
{
    struct input in = {n,
                       STRIDE,
                       spin,
                       {0x243f6a8885a308d3ull, 0x13198a2e03707344ull, 0xa4093822299f31d0ull,
                        0x082efa98ec4e6c89ull, 0x452821e638d01377ull}};
    return in;
}

/* What the guest reports: n, folded with the result of its `spin` rounds. */
static uint32_t expected_status(const struct input *in)
{
    const uint64_t *w = (const uint64_t *)in;
    uint64_t x = 0;
    for (uint64_t i = 0; i < in->spin; i++) {
        x ^= w[x >> 61];
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        if (x & (1ull << 17))
            x = x << 13 | x >> 51;
    }
    return (uint32_t)in->n ^ (uint32_t)(x >> 32);
}

/* The RAM a run must leave: the snapshot's plus the n bytes the guest writes. */
static void expect_after_run(uint8_t *ram, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        ram[DATA_BASE + i * STRIDE] = (uint8_t)((i & 0x7f) | 0x80);
}

/* Compare RAM after a run with the snapshot: exactly n pages must differ, each
 * by the byte the guest writes. */
static void verify_run_memory(const char *side, const uint8_t *ram, const uint8_t *snap, uint64_t n)
{
    static uint8_t want[RAM_SIZE];
    memcpy(want, snap, RAM_SIZE);
    expect_after_run(want, n);
    unsigned int differ = 0;
    for (unsigned int p = 0; p < NPAGES; p++)
        differ += memcmp(ram + p * PAGE, snap + p * PAGE, PAGE) != 0;
    if (differ != n || memcmp(ram, want, RAM_SIZE) != 0)
        die("%s: after a run %u pages differ from the snapshot, expected exactly the %llu the "
            "guest writes",
            side, differ, (unsigned long long)n);
}

static void verify_reset_memory(const char *side, const uint8_t *ram, const uint8_t *snap)
{
    if (memcmp(ram, snap, RAM_SIZE) != 0)
        die("%s: guest RAM after the reset differs from the snapshot", side);
}

static void check_status(const char *side, uint32_t got, uint32_t want)
{
    if (got != want)
        die("%s: the guest reported 0x%x, expected 0x%x", side, got, want);
}

/* ---- libvmm ---- */

struct lib_side {
    vmm_vm *vm;
    vmm_vcpu *vcpu;
    vmm_snapshot *snap;
    unsigned int flags; /* for vmm_snapshot_restore_flags */
    uint64_t n;
    uint32_t want;
    uint8_t *snap_ram; /* guest RAM at the snapshot, for the checks */
};

static inline uint32_t lib_run(struct lib_side *l);

static void lib_build(struct lib_side *l, const struct input *in, unsigned int flags)
{
    memset(l, 0, sizeof *l);
    vmm_check(vmm_vm_create(&l->vm, NULL), "vmm_vm_create");
    vmm_check(vmm_mem_map(l->vm, 0, RAM_SIZE, NULL, 0), "vmm_mem_map");
    vmm_check(vmm_vcpu_create(&l->vcpu, l->vm, 0), "vmm_vcpu_create");
    vmm_check(vmm_device_attach(NULL, l->vm, "debug-exit", "{\"mmio\": 3489660928, \"size\": 4}"),
              "vmm_device_attach debug-exit");
    vmm_check(vmm_boot_flat(l->vm, image.path, GUEST_LOAD, NULL), "vmm_boot_flat");
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.mode = VMM_X86_LONG;
    o.cpl = 3;
    o.entry = GUEST_LOAD;
    o.stack = GUEST_STACK;
    vmm_check(vmm_x86_setup(l->vcpu, &o), "vmm_x86_setup");
    vmm_check(vmm_mem_write(l->vm, INPUT, in, sizeof *in), "vmm_mem_write input");
    l->flags = flags;
    l->n = in->n;
    l->want = expected_status(in);
    /* One run first, so that the CPU has set the accessed and dirty bits in the
     * page tables; then back to the entry state and zeroed data pages. A
     * snapshot taken before would make every cycle write four page-table pages
     * (and KEEP_PAGE_TABLES's safety net drop the shadow page tables). */
    vmm_regs regs;
    vmm_sregs sregs;
    vmm_check(vmm_vcpu_get_regs(l->vcpu, &regs), "vmm_vcpu_get_regs");
    vmm_check(vmm_vcpu_get_sregs(l->vcpu, &sregs), "vmm_vcpu_get_sregs");
    check_status("libvmm", lib_run(l), l->want);
    static const uint8_t zero[PAGE];
    for (uint64_t i = 0; i < in->n; i++)
        vmm_check(vmm_mem_write(l->vm, DATA_BASE + i * STRIDE, zero, PAGE), "vmm_mem_write");
    vmm_check(vmm_vcpu_set_sregs(l->vcpu, &sregs), "vmm_vcpu_set_sregs");
    vmm_check(vmm_vcpu_set_regs(l->vcpu, &regs), "vmm_vcpu_set_regs");
    vmm_check(vmm_snapshot_take(l->vm, &l->snap), "vmm_snapshot_take");
    l->snap_ram = xmalloc(RAM_SIZE);
    vmm_check(vmm_mem_read(l->vm, 0, l->snap_ram, RAM_SIZE), "vmm_mem_read");
}

static void lib_destroy(struct lib_side *l)
{
    vmm_snapshot_free(l->snap);
    vmm_vm_destroy(l->vm);
    free(l->snap_ram);
}

static inline void lib_restore(struct lib_side *l)
{
    vmm_check(vmm_snapshot_restore_flags(l->vm, l->snap, l->flags), "vmm_snapshot_restore_flags");
}

static inline uint32_t lib_run(struct lib_side *l)
{
    vmm_exit x;
    vmm_check(vmm_vcpu_run(l->vcpu, &x), "vmm_vcpu_run");
    if (x.reason != VMM_EXIT_STATUS)
        die("libvmm: expected the debug-exit status, got exit %s", vmm_exit_reason_name(x.reason));
    return (uint32_t)x.status.code;
}

/* The restore after a run must have copied back exactly the guest's n pages,
 * dropping the shadow page tables only without KEEP_PAGE_TABLES. */
static inline void lib_check_restore(struct lib_side *l, int flush_expected)
{
    vmm_snapshot_stats st;
    vmm_check(vmm_snapshot_last_restore(l->vm, &st), "vmm_snapshot_last_restore");
    if (st.pages_copied != l->n || st.full || st.shadow_flushed != flush_expected)
        die("libvmm: the restore copied %llu pages (full %d) and flushed %d, expected %llu pages "
            "and flushed %d",
            (unsigned long long)st.pages_copied, st.full, st.shadow_flushed,
            (unsigned long long)l->n, flush_expected);
}

static int lib_flush_expected;

/* One timed cycle: reset, run to the status. */
static inline void lib_cycle(struct lib_side *l)
{
    lib_restore(l);
    lib_check_restore(l, l->flags ? 0 : lib_flush_expected);
    check_status("libvmm", lib_run(l), l->want);
}

static void lib_verify(struct lib_side *l)
{
    uint8_t *ram = xmalloc(RAM_SIZE);
    lib_restore(l);
    vmm_check(vmm_mem_read(l->vm, 0, ram, RAM_SIZE), "vmm_mem_read");
    verify_reset_memory("libvmm", ram, l->snap_ram);
    check_status("libvmm", lib_run(l), l->want);
    vmm_check(vmm_mem_read(l->vm, 0, ram, RAM_SIZE), "vmm_mem_read");
    verify_run_memory("libvmm", ram, l->snap_ram, l->n);
    free(ram);
}

/* ---- raw KVM ---- */

static int kvm_fd = -1;
static struct kvm_cpuid2 *raw_cpuid;
static struct {
    bool tss_addr, xsave, xcrs, debugregs, events, readonly_mem, immediate_exit;
    int xsave2; /* KVM_CAP_XSAVE2 on a VM: size of the XSAVE image, or <= 0 */
    uint32_t *msr_index;
    uint32_t nmsr_index;
} caps;

/* Process-wide facts, fetched once, as libvmm caches them. */
static void raw_init(void)
{
    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0) {
        fprintf(stderr, "bench_reset: cannot open /dev/kvm: %s\n", strerror(errno));
        exit(no_kvm_code());
    }
    caps.tss_addr = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0;
    caps.xsave = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0;
    caps.xcrs = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
    caps.debugregs = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_DEBUGREGS) > 0;
    caps.events = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_VCPU_EVENTS) > 0;
    caps.readonly_mem = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) > 0;
    caps.immediate_exit = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IMMEDIATE_EXIT) > 0;
    if (!caps.immediate_exit)
        die("raw KVM: no KVM_CAP_IMMEDIATE_EXIT");
    raw_cpuid = raw_supported_cpuid(kvm_fd);
    for (uint32_t cap = 256; !caps.msr_index && cap <= 65536; cap *= 4) {
        struct kvm_msr_list *l = xmalloc(sizeof *l + cap * sizeof(uint32_t));
        l->nmsrs = cap;
        if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, l) == 0) {
            caps.msr_index = xmalloc((l->nmsrs + 1) * sizeof(uint32_t));
            memcpy(caps.msr_index, l->indices, l->nmsrs * sizeof(uint32_t));
            caps.nmsr_index = l->nmsrs;
            free(l);
            break;
        }
        free(l);
        if (errno != E2BIG)
            raw_fail("KVM_GET_MSR_INDEX_LIST");
    }
    if (!caps.msr_index)
        die("raw KVM: KVM_GET_MSR_INDEX_LIST: list too long");
}

#define MSR_CHUNK 240 /* KVM_SET_MSRS takes fewer than 256 per call */

/* Phases of a raw reset cycle, for the breakdown. */
enum {
    PH_COMPLETE,
    PH_DIRTY_LOG,
    PH_COPY,
    PH_FLUSH,
    PH_REGS,
    PH_XSAVE,
    PH_XCRS,
    PH_SREGS,
    PH_MSRS,
    PH_EVENTS,
    PH_DEBUGREGS,
    PH_CLOCK,
    PH_RUN,
    PH_N
};
static const char *const phase_names[PH_N] = {
    "complete_io", "dirty_log", "page_copy",  "shadow_flush",  "set_regs",  "set_xsave", "set_xcrs",
    "set_sregs",   "set_msrs",  "set_events", "set_debugregs", "set_clock", "run"};

struct raw_side {
    int vm_fd, vcpu_fd;
    struct kvm_run *run;
    size_t run_size;
    uint8_t *mem;   /* guest RAM */
    uint8_t *saved; /* its copy at the snapshot */
    uint64_t bitmap[BITMAP_WORDS];
    bool flush, io_pending;
    uint64_t n;
    uint64_t last_dirty; /* pages in the dirty log at the last reset */
    uint32_t want;
    /* the vCPU and VM state at the snapshot */
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    void *xsave;
    struct kvm_xcrs xcrs;
    struct kvm_msrs *msrs[4]; /* chunks of at most MSR_CHUNK entries */
    int nchunks;
    struct kvm_debugregs dregs;
    struct kvm_vcpu_events events;
    struct kvm_clock_data clock;
    bool clock_cap;
};

/* CPL3 long mode with the tables vmm_x86_setup() builds at TABLES. */
static void raw_setup_cpl3(struct raw_side *r)
{
    const char *failed = raw_setup_long(r->mem, TABLES, r->vcpu_fd, 3, GUEST_LOAD, GUEST_STACK);
    if (failed)
        raw_fail(failed);
}

/* The MSRs a snapshot saves, chosen as libvmm does: the index list plus
 * TSC_AUX, keeping those this vCPU can read and write back (IA32_TSC is read
 * only while probing). Returns how many. */
static uint32_t raw_msr_list(struct raw_side *r, uint32_t *keep)
{
    uint32_t n = 0;
    uint32_t total = caps.nmsr_index + 1;
    for (uint32_t i = 0; i < total; i++) {
        uint32_t index = i < caps.nmsr_index ? caps.msr_index[i] : 0xc0000103u;
        bool dup = false;
        for (uint32_t k = 0; k < n && i >= caps.nmsr_index; k++)
            dup = dup || keep[k] == index;
        if (dup)
            continue;
        struct {
            struct kvm_msrs m;
            struct kvm_msr_entry e;
        } one = {.m = {.nmsrs = 1}, .e = {.index = index}};
        int got = ioctl(r->vcpu_fd, KVM_GET_MSRS, &one.m);
        if (got == 1 && index != 0x10)
            got = ioctl(r->vcpu_fd, KVM_SET_MSRS, &one.m);
        if (got < 0)
            raw_fail("KVM_GET_MSRS/KVM_SET_MSRS (probing)");
        if (got == 1)
            keep[n++] = index;
    }
    return n;
}

/* Take the snapshot: every piece of state libvmm saves for a VM without an
 * in-kernel irqchip, and a copy of RAM. */
static void raw_take(struct raw_side *r)
{
    if (ioctl(r->vcpu_fd, KVM_GET_REGS, &r->regs) < 0)
        raw_fail("KVM_GET_REGS");
    if (ioctl(r->vcpu_fd, KVM_GET_SREGS, &r->sregs) < 0)
        raw_fail("KVM_GET_SREGS");
    if (caps.xsave) {
        size_t sz = caps.xsave2 > (int)sizeof(struct kvm_xsave) ? (size_t)caps.xsave2
                                                                : sizeof(struct kvm_xsave);
        r->xsave = xmalloc(sz);
        if (ioctl(r->vcpu_fd, sz > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
                  r->xsave) < 0)
            raw_fail("KVM_GET_XSAVE");
        ((uint8_t *)r->xsave)[512] |= 3; /* x87 and SSE present, as libvmm saves them */
    }
    if (caps.xcrs && ioctl(r->vcpu_fd, KVM_GET_XCRS, &r->xcrs) < 0)
        raw_fail("KVM_GET_XCRS");
    uint32_t *list = xmalloc((caps.nmsr_index + 1) * sizeof *list);
    uint32_t nmsrs = raw_msr_list(r, list);
    for (uint32_t i = 0; i < nmsrs; i += MSR_CHUNK) {
        uint32_t n = nmsrs - i < MSR_CHUNK ? nmsrs - i : MSR_CHUNK;
        if (r->nchunks == 4)
            die("raw KVM: too many MSRs");
        struct kvm_msrs *m = xmalloc(sizeof *m + n * sizeof m->entries[0]);
        m->nmsrs = n;
        for (uint32_t k = 0; k < n; k++)
            m->entries[k].index = list[i + k];
        if (ioctl(r->vcpu_fd, KVM_GET_MSRS, m) != (int)n)
            raw_fail("KVM_GET_MSRS");
        r->msrs[r->nchunks++] = m;
    }
    free(list);
    if (caps.debugregs && ioctl(r->vcpu_fd, KVM_GET_DEBUGREGS, &r->dregs) < 0)
        raw_fail("KVM_GET_DEBUGREGS");
    if (caps.events) {
        if (ioctl(r->vcpu_fd, KVM_GET_VCPU_EVENTS, &r->events) < 0)
            raw_fail("KVM_GET_VCPU_EVENTS");
        r->events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
    }
    if (r->clock_cap) {
        struct kvm_clock_data c;
        memset(&c, 0, sizeof c);
        if (ioctl(r->vm_fd, KVM_GET_CLOCK, &c) < 0)
            raw_fail("KVM_GET_CLOCK");
        memset(&r->clock, 0, sizeof r->clock);
        r->clock.clock = c.clock; /* the value only, as libvmm sets it */
    }
    /* Forget the set-up writes: from here the log holds the guest's. */
    if (ioctl(r->vm_fd, KVM_GET_DIRTY_LOG,
              &(struct kvm_dirty_log){.slot = 0, .dirty_bitmap = r->bitmap}) < 0)
        raw_fail("KVM_GET_DIRTY_LOG");
    memcpy(r->saved, r->mem, RAM_SIZE);
}

static inline uint32_t raw_run(struct raw_side *r, uint64_t *ph);

static void raw_build(struct raw_side *r, const struct input *in, bool flush)
{
    memset(r, 0, sizeof *r);
    r->vm_fd = raw_vm_create(kvm_fd, caps.tss_addr, &r->run_size);
    caps.xsave2 = ioctl(r->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
    r->clock_cap = ioctl(r->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK) > 0;
    r->mem = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    r->saved = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r->mem == MAP_FAILED || r->saved == MAP_FAILED)
        raw_fail("mmap guest RAM");
    r->vcpu_fd = raw_vcpu_create(r->vm_fd, r->mem, RAM_SIZE, KVM_MEM_LOG_DIRTY_PAGES, raw_cpuid,
                                 r->run_size, &r->run);
    memcpy(r->mem + GUEST_LOAD, image.bytes, image.len);
    raw_setup_cpl3(r);
    memcpy(r->mem + INPUT, in, sizeof *in);
    r->flush = flush;
    r->n = in->n;
    r->want = expected_status(in);
    /* One run first, for the page tables' accessed and dirty bits (see lib_build). */
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    if (ioctl(r->vcpu_fd, KVM_GET_REGS, &regs) < 0 || ioctl(r->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
        raw_fail("KVM_GET_REGS/SREGS");
    check_status("raw KVM", raw_run(r, NULL), r->want);
    r->run->immediate_exit = 1;
    if (ioctl(r->vcpu_fd, KVM_RUN, 0) == 0 || (errno != EINTR && errno != EAGAIN))
        raw_fail("KVM_RUN (completing the MMIO write)");
    r->run->immediate_exit = 0;
    r->io_pending = false;
    memset(r->mem + DATA_BASE, 0, (size_t)(in->n * STRIDE));
    if (ioctl(r->vcpu_fd, KVM_SET_SREGS, &sregs) < 0 || ioctl(r->vcpu_fd, KVM_SET_REGS, &regs) < 0)
        raw_fail("KVM_SET_REGS/SREGS");
    raw_take(r);
}

static void raw_destroy(struct raw_side *r)
{
    munmap(r->run, r->run_size);
    close(r->vcpu_fd);
    close(r->vm_fd);
    munmap(r->mem, RAM_SIZE);
    munmap(r->saved, RAM_SIZE);
    free(r->xsave);
    for (int i = 0; i < r->nchunks; i++)
        free(r->msrs[i]);
}

static inline uint64_t ns_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Phase timing for the breakdown; compiled into the cycle, off unless ph != NULL. */
#define PHASE(ph, i, t)                                                                            \
    do {                                                                                           \
        if (ph) {                                                                                  \
            uint64_t t1_ = ns_now();                                                               \
            (ph)[i] += t1_ - (t);                                                                  \
            (t) = t1_;                                                                             \
        }                                                                                          \
    } while (0)

/* Reset to the snapshot, in the order libvmm's restore works: finish the MMIO
 * write KVM is waiting to complete, memory (dirty log, copy back, drop the
 * shadow page tables if asked), then the vCPU state and the VM clock. */
static inline void raw_restore(struct raw_side *r, uint64_t *ph)
{
    uint64_t t = ph ? ns_now() : 0;
    if (r->io_pending) {
        r->run->immediate_exit = 1;
        int rc = ioctl(r->vcpu_fd, KVM_RUN, 0);
        r->run->immediate_exit = 0;
        if (rc == 0 || (errno != EINTR && errno != EAGAIN))
            raw_fail("KVM_RUN (completing the MMIO write)");
        r->io_pending = false;
    }
    PHASE(ph, PH_COMPLETE, t);
    struct kvm_dirty_log d = {.slot = 0, .dirty_bitmap = r->bitmap};
    if (ioctl(r->vm_fd, KVM_GET_DIRTY_LOG, &d) < 0)
        raw_fail("KVM_GET_DIRTY_LOG");
    PHASE(ph, PH_DIRTY_LOG, t);
    uint64_t copied = 0, data = 0;
    for (unsigned int w = 0; w < BITMAP_WORDS; w++) {
        uint64_t bits = r->bitmap[w];
        while (bits) {
            size_t p = w * 64 + (unsigned int)__builtin_ctzll(bits);
            bits &= bits - 1;
            memcpy(r->mem + p * PAGE, r->saved + p * PAGE, PAGE);
            copied++;
            data += p - DATA_BASE / PAGE < r->n;
        }
    }
    /* KVM may also log pages the guest only read (those it mapped writable):
     * the guest's n pages must be there, and are counted apart. */
    if (copied && data != r->n)
        die("raw KVM: the dirty log has %llu of the guest's %llu pages", (unsigned long long)data,
            (unsigned long long)r->n);
    if (copied)
        r->last_dirty = copied;
    PHASE(ph, PH_COPY, t);
    if (r->flush && copied) {
        /* Create and delete a one-page slot after RAM: KVM drops all shadow pages. */
        struct kvm_userspace_memory_region s = {
            .slot = 1,
            .flags = caps.readonly_mem ? KVM_MEM_READONLY : 0,
            .guest_phys_addr = RAM_SIZE,
            .memory_size = PAGE,
            .userspace_addr = (uintptr_t)r->mem,
        };
        if (ioctl(r->vm_fd, KVM_SET_USER_MEMORY_REGION, &s) < 0)
            raw_fail("KVM_SET_USER_MEMORY_REGION (flush)");
        s.flags = 0;
        s.memory_size = 0;
        if (ioctl(r->vm_fd, KVM_SET_USER_MEMORY_REGION, &s) < 0)
            raw_fail("KVM_SET_USER_MEMORY_REGION (flush, delete)");
    }
    PHASE(ph, PH_FLUSH, t);
    if (ioctl(r->vcpu_fd, KVM_SET_REGS, &r->regs) < 0)
        raw_fail("KVM_SET_REGS");
    PHASE(ph, PH_REGS, t);
    if (caps.xsave && ioctl(r->vcpu_fd, KVM_SET_XSAVE, r->xsave) < 0)
        raw_fail("KVM_SET_XSAVE");
    PHASE(ph, PH_XSAVE, t);
    if (caps.xcrs && ioctl(r->vcpu_fd, KVM_SET_XCRS, &r->xcrs) < 0)
        raw_fail("KVM_SET_XCRS");
    PHASE(ph, PH_XCRS, t);
    if (ioctl(r->vcpu_fd, KVM_SET_SREGS, &r->sregs) < 0)
        raw_fail("KVM_SET_SREGS");
    PHASE(ph, PH_SREGS, t);
    for (int i = 0; i < r->nchunks; i++)
        if (ioctl(r->vcpu_fd, KVM_SET_MSRS, r->msrs[i]) != (int)r->msrs[i]->nmsrs)
            raw_fail("KVM_SET_MSRS");
    PHASE(ph, PH_MSRS, t);
    if (caps.events && ioctl(r->vcpu_fd, KVM_SET_VCPU_EVENTS, &r->events) < 0)
        raw_fail("KVM_SET_VCPU_EVENTS");
    PHASE(ph, PH_EVENTS, t);
    if (caps.debugregs && ioctl(r->vcpu_fd, KVM_SET_DEBUGREGS, &r->dregs) < 0)
        raw_fail("KVM_SET_DEBUGREGS");
    PHASE(ph, PH_DEBUGREGS, t);
    if (r->clock_cap && ioctl(r->vm_fd, KVM_SET_CLOCK, &r->clock) < 0)
        raw_fail("KVM_SET_CLOCK");
    PHASE(ph, PH_CLOCK, t);
}

/* KVM_RUN to the guest's store to the debug-exit register; returns the status. */
static inline uint32_t raw_run(struct raw_side *r, uint64_t *ph)
{
    uint64_t t = ph ? ns_now() : 0;
    if (ioctl(r->vcpu_fd, KVM_RUN, 0) < 0)
        raw_fail("KVM_RUN");
    struct kvm_run *run = r->run;
    if (run->exit_reason != KVM_EXIT_MMIO || run->mmio.phys_addr != EXIT_MMIO ||
        !run->mmio.is_write || run->mmio.len != 4)
        die("raw KVM: expected a 4-byte MMIO write to 0x%llx, got exit %u at 0x%llx",
            (unsigned long long)EXIT_MMIO, run->exit_reason,
            (unsigned long long)run->mmio.phys_addr);
    r->io_pending = true;
    uint32_t v;
    memcpy(&v, run->mmio.data, 4);
    PHASE(ph, PH_RUN, t);
    return v;
}

static inline void raw_cycle(struct raw_side *r, uint64_t *ph)
{
    raw_restore(r, ph);
    check_status("raw KVM", raw_run(r, ph), r->want);
}

static void raw_verify(struct raw_side *r)
{
    raw_restore(r, NULL);
    verify_reset_memory("raw KVM", r->mem, r->saved);
    check_status("raw KVM", raw_run(r, NULL), r->want);
    verify_run_memory("raw KVM", r->mem, r->saved, r->n);
}

/* ---- Unicorn ---- */

struct uc_side {
    uc_engine *uc;
    uc_context *ctx;
    uint8_t *mem, *saved;
    uint64_t n;
    uint32_t want;
    uint32_t status;
    int writes; /* debug-exit writes seen in the current run */
};

static void uc_check(uc_err e, const char *what)
{
    if (e != UC_ERR_OK)
        die("Unicorn: %s: %s", what, uc_strerror(e));
}

static uint64_t uc_mmio_read(uc_engine *uc, uint64_t off, unsigned int size, void *user)
{
    (void)uc;
    (void)off;
    (void)size;
    (void)user;
    return 0;
}

/* The debug-exit register: records the status. */
static void uc_mmio_write(uc_engine *uc, uint64_t off, unsigned int size, uint64_t value,
                          void *user)
{
    (void)uc;
    struct uc_side *u = user;
    if (off == 0 && size == 4) {
        u->status = (uint32_t)value;
        u->writes++;
    }
}

static void uc_build(struct uc_side *u, const struct input *in)
{
    memset(u, 0, sizeof *u);
    uc_check(uc_open(UC_ARCH_X86, UC_MODE_64, &u->uc), "uc_open");
    u->mem = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    u->saved = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (u->mem == MAP_FAILED || u->saved == MAP_FAILED)
        die("Unicorn: mmap guest RAM: %s", strerror(errno));
    /* The same guest RAM, image and input as the VMs (Unicorn's x86-64 mode runs
     * without paging, so the tables are only bytes it does not read). */
    memcpy(u->mem + GUEST_LOAD, image.bytes, image.len);
    memcpy(u->mem + INPUT, in, sizeof *in);
    uc_check(uc_mem_map_ptr(u->uc, 0, RAM_SIZE, UC_PROT_ALL, u->mem), "uc_mem_map_ptr");
    uc_check(uc_mmio_map(u->uc, EXIT_MMIO, PAGE, uc_mmio_read, u, uc_mmio_write, u), "uc_mmio_map");
    /* Stop at the `jmp .` after the store; exits, unlike `until`, need no
     * translation-block invalidation per uc_emu_start. */
    uint64_t exits[1] = {image.done};
    uc_check(uc_ctl_exits_enable(u->uc), "uc_ctl_exits_enable");
    uc_check(uc_ctl_set_exits(u->uc, exits, 1), "uc_ctl_set_exits");
    uint64_t rsp = GUEST_STACK, rip = GUEST_LOAD, rflags = 2;
    uc_check(uc_reg_write(u->uc, UC_X86_REG_RSP, &rsp), "uc_reg_write RSP");
    uc_check(uc_reg_write(u->uc, UC_X86_REG_RIP, &rip), "uc_reg_write RIP");
    uc_check(uc_reg_write(u->uc, UC_X86_REG_RFLAGS, &rflags), "uc_reg_write RFLAGS");
    uc_check(uc_context_alloc(u->uc, &u->ctx), "uc_context_alloc");
    uc_check(uc_context_save(u->uc, u->ctx), "uc_context_save");
    memcpy(u->saved, u->mem, RAM_SIZE);
    u->n = in->n;
    u->want = expected_status(in);
}

static void uc_destroy(struct uc_side *u)
{
    uc_context_free(u->ctx);
    uc_close(u->uc);
    munmap(u->mem, RAM_SIZE);
    munmap(u->saved, RAM_SIZE);
}

/* Reset: registers from the context, the n pages the guest is known to write
 * copied back (Unicorn 2.0.1 tracks no dirty pages). */
static inline void uc_restore(struct uc_side *u)
{
    uc_check(uc_context_restore(u->uc, u->ctx), "uc_context_restore");
    for (uint64_t i = 0; i < u->n; i++) {
        uint64_t a = DATA_BASE + i * STRIDE;
        memcpy(u->mem + a, u->saved + a, PAGE);
    }
}

static inline uint32_t uc_run(struct uc_side *u)
{
    u->writes = 0;
    uc_check(uc_emu_start(u->uc, GUEST_LOAD, image.done, 0, 0), "uc_emu_start");
    uint64_t rip;
    uc_check(uc_reg_read(u->uc, UC_X86_REG_RIP, &rip), "uc_reg_read RIP");
    if (rip != image.done || u->writes != 1)
        die("Unicorn: stopped at 0x%llx after %d debug-exit writes, expected 0x%llx after 1",
            (unsigned long long)rip, u->writes, (unsigned long long)image.done);
    return u->status;
}

static inline void uc_cycle(struct uc_side *u)
{
    uc_restore(u);
    check_status("Unicorn", uc_run(u), u->want);
}

static void uc_verify(struct uc_side *u)
{
    uc_restore(u);
    verify_reset_memory("Unicorn", u->mem, u->saved);
    check_status("Unicorn", uc_run(u), u->want);
    verify_run_memory("Unicorn", u->mem, u->saved, u->n);
}

/* ---- the measurement ---- */

enum { S_LIB, S_RAW, S_UC, S_LIB_FLUSH, S_RAW_FLUSH, S_N };
static const char *const side_names[S_N] = {"libvmm", "raw", "unicorn", "libvmm_flush",
                                            "raw_flush"};

struct sides {
    struct lib_side lib, lib_flush;
    struct raw_side raw, raw_flush;
    struct uc_side uc;
    bool have[S_N];
};

static inline void side_cycle(struct sides *s, int which)
{
    switch (which) {
    case S_LIB:
        lib_cycle(&s->lib);
        break;
    case S_RAW:
        raw_cycle(&s->raw, NULL);
        break;
    case S_UC:
        uc_cycle(&s->uc);
        break;
    case S_LIB_FLUSH:
        lib_cycle(&s->lib_flush);
        break;
    case S_RAW_FLUSH:
        raw_cycle(&s->raw_flush, NULL);
        break;
    }
}

/* Mean seconds per cycle over `cycles` cycles. */
static double side_batch(struct sides *s, int which, int cycles)
{
    double t0 = now_s();
    for (int i = 0; i < cycles; i++)
        side_cycle(s, which);
    return (now_s() - t0) / cycles;
}

static void sides_build(struct sides *s, const struct input *in, bool all)
{
    memset(s, 0, sizeof *s);
    lib_build(&s->lib, in, VMM_SNAPSHOT_KEEP_PAGE_TABLES);
    raw_build(&s->raw, in, false);
    uc_build(&s->uc, in);
    s->have[S_LIB] = s->have[S_RAW] = s->have[S_UC] = true;
    if (all) {
        lib_build(&s->lib_flush, in, 0);
        raw_build(&s->raw_flush, in, true);
        s->have[S_LIB_FLUSH] = s->have[S_RAW_FLUSH] = true;
    }
    /* First cycles fault guest pages in and build shadow page tables; the checks
     * run then, outside the timed loops. */
    for (int k = 0; k < 3; k++) {
        lib_verify(&s->lib);
        raw_verify(&s->raw);
        uc_verify(&s->uc);
        if (all) {
            lib_verify(&s->lib_flush);
            raw_verify(&s->raw_flush);
        }
    }
}

static void sides_destroy(struct sides *s)
{
    /* A last check that the timed cycles left everything working. */
    lib_verify(&s->lib);
    raw_verify(&s->raw);
    uc_verify(&s->uc);
    lib_destroy(&s->lib);
    raw_destroy(&s->raw);
    uc_destroy(&s->uc);
    if (s->have[S_LIB_FLUSH]) {
        lib_verify(&s->lib_flush);
        raw_verify(&s->raw_flush);
        lib_destroy(&s->lib_flush);
        raw_destroy(&s->raw_flush);
    }
}

/* Interleaved rounds over the sides present; us[side][round] = mean us per cycle. */
static void measure(struct sides *s, int rounds, double side_round_s, double *us[S_N])
{
    int batch[S_N] = {0};
    for (int w = 0; w < S_N; w++) {
        if (!s->have[w])
            continue;
        double t = side_batch(s, w, 5);
        int b = (int)(side_round_s / t);
        batch[w] = b < 3 ? 3 : b;
    }
    int order[S_N], nsides = 0;
    for (int w = 0; w < S_N; w++)
        if (s->have[w])
            order[nsides++] = w;
    for (int k = 0; k < rounds; k++) {
        /* Rotate which side goes first, and reverse every other round. */
        for (int i = 0; i < nsides; i++) {
            int j = (k % 2 == 0) ? (i + k / 2) % nsides : (nsides - 1 - i + k / 2) % nsides;
            int w = order[j];
            us[w][k] = side_batch(s, w, batch[w]) * 1e6;
        }
    }
}

static void bench_pages(const struct params *p, unsigned int n)
{
    struct input in = make_input(n, 0);
    struct sides s;
    sides_build(&s, &in, true);
    lib_flush_expected = 1;
    vmm_host_info hi;
    if (vmm_host_info_get(&hi) == 0 && (hi.paging == VMM_PAGING_EPT || hi.paging == VMM_PAGING_NPT))
        lib_flush_expected = 0; /* no shadow page tables to drop */

    double *us[S_N];
    for (int w = 0; w < S_N; w++)
        us[w] = xmalloc((size_t)p->rounds * sizeof(double));
    measure(&s, p->rounds, p->side_round_s, us);

    double *ratio = xmalloc((size_t)p->rounds * sizeof(double));
    char name[96];
    snprintf(name, sizeof name, "reset_%upage", n);
    for (int k = 0; k < p->rounds; k++)
        ratio[k] = us[S_LIB][k] / us[S_RAW][k];
    ratio_report(true, name, ratio, p->rounds);
    snprintf(name, sizeof name, "reset_%upage_vs_unicorn", n);
    for (int k = 0; k < p->rounds; k++)
        ratio[k] = us[S_LIB][k] / us[S_UC][k];
    ratio_report(true, name, ratio, p->rounds);
    snprintf(name, sizeof name, "reset_%upage_flush", n);
    for (int k = 0; k < p->rounds; k++)
        ratio[k] = us[S_LIB_FLUSH][k] / us[S_RAW_FLUSH][k];
    ratio_report(false, name, ratio, p->rounds);
    for (int w = 0; w < S_N; w++)
        printf("DETAIL reset_%upage_%s_us %.2f us\n", n, side_names[w], median(us[w], p->rounds));

    /* Where a cycle's time goes: each side's reset and run timed apart. */
    int c = p->breakdown_cycles;
    double lr = 0, lrun = 0, ur = 0, urun = 0;
    for (int i = 0; i < c; i++) {
        double t0 = now_s();
        lib_restore(&s.lib);
        double t1 = now_s();
        lib_check_restore(&s.lib, 0);
        check_status("libvmm", lib_run(&s.lib), s.lib.want);
        double t2 = now_s();
        lr += t1 - t0;
        lrun += t2 - t1;
    }
    for (int i = 0; i < c; i++) {
        double t0 = now_s();
        uc_restore(&s.uc);
        double t1 = now_s();
        check_status("Unicorn", uc_run(&s.uc), s.uc.want);
        double t2 = now_s();
        ur += t1 - t0;
        urun += t2 - t1;
    }
    uint64_t ph[PH_N] = {0}, phf[PH_N] = {0};
    for (int i = 0; i < c; i++) {
        raw_cycle(&s.raw, ph);
        raw_cycle(&s.raw_flush, phf);
    }
    vmm_snapshot_stats st;
    vmm_check(vmm_snapshot_last_restore(s.lib.vm, &st), "vmm_snapshot_last_restore");
    printf("DETAIL reset_%upage_libvmm_us_restore %.2f us\n", n, lr / c * 1e6);
    printf("DETAIL reset_%upage_libvmm_us_run %.2f us\n", n, lrun / c * 1e6);
    printf("DETAIL reset_%upage_libvmm_pages_dirty %llu count\n", n,
           (unsigned long long)st.pages_dirty);
    printf("DETAIL reset_%upage_raw_pages_dirty %llu count\n", n,
           (unsigned long long)s.raw.last_dirty);
    for (int i = 0; i < PH_N; i++)
        if (i != PH_FLUSH)
            printf("DETAIL reset_%upage_raw_us_%s %.2f us\n", n, phase_names[i],
                   (double)ph[i] / c / 1e3);
    for (int i = 0; i < PH_N; i++)
        if (i == PH_FLUSH || i == PH_RUN)
            printf("DETAIL reset_%upage_raw_flush_us_%s %.2f us\n", n, phase_names[i],
                   (double)phf[i] / c / 1e3);
    if (n == page_counts[0]) {
        unsigned int nmsrs = 0;
        for (int i = 0; i < s.raw.nchunks; i++)
            nmsrs += s.raw.msrs[i]->nmsrs;
        printf("DETAIL raw_msrs_restored %u count\n", nmsrs);
    }
    printf("DETAIL reset_%upage_unicorn_us_restore %.2f us\n", n, ur / c * 1e6);
    printf("DETAIL reset_%upage_unicorn_us_run %.2f us\n", n, urun / c * 1e6);

    free(ratio);
    for (int w = 0; w < S_N; w++)
        free(us[w]);
    sides_destroy(&s);
}

/* The n = 1 cycle with guest compute: libvmm (native CPL3) against Unicorn. */
static void bench_spin(const struct params *p)
{
    double lib_us[3], uc_us[3];
    for (int si = 0; si < 3; si++) {
        uint64_t spin = p->spins[si];
        struct input in = make_input(1, spin);
        struct sides s;
        sides_build(&s, &in, false);
        s.have[S_RAW] = false; /* libvmm against Unicorn only */
        double *us[S_N];
        for (int w = 0; w < S_N; w++)
            us[w] = xmalloc((size_t)p->spin_rounds * sizeof(double));
        measure(&s, p->spin_rounds, p->spin_side_round_s, us);
        double *ratio = xmalloc((size_t)p->spin_rounds * sizeof(double));
        for (int k = 0; k < p->spin_rounds; k++)
            ratio[k] = us[S_LIB][k] / us[S_UC][k];
        char name[96];
        snprintf(name, sizeof name, "reset_spin%llu_vs_unicorn", (unsigned long long)spin);
        ratio_report(false, name, ratio, p->spin_rounds);
        lib_us[si] = median(us[S_LIB], p->spin_rounds);
        uc_us[si] = median(us[S_UC], p->spin_rounds);
        printf("DETAIL reset_spin%llu_libvmm_us %.2f us\n", (unsigned long long)spin, lib_us[si]);
        printf("DETAIL reset_spin%llu_unicorn_us %.2f us\n", (unsigned long long)spin, uc_us[si]);
        free(ratio);
        for (int w = 0; w < S_N; w++)
            free(us[w]);
        sides_destroy(&s);
    }
    /* Cost of one spin round (9-10 guest instructions) on each side from the
     * longest spin against none, and the number of rounds per cycle at which
     * both sides would take the same time. */
    double rounds = (double)p->spins[2];
    double lib_ns = (lib_us[2] - lib_us[0]) * 1e3 / rounds;
    double uc_ns = (uc_us[2] - uc_us[0]) * 1e3 / rounds;
    printf("DETAIL spin_round_libvmm_ns %.3f ns\n", lib_ns);
    printf("DETAIL spin_round_unicorn_ns %.3f ns\n", uc_ns);
    if (uc_ns > lib_ns)
        printf("DETAIL spin_break_even_rounds %.0f count\n",
               (lib_us[0] - uc_us[0]) * 1e3 / (uc_ns - lib_ns));
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
    load_image();

    double t0 = now_s();
    printf("DETAIL host_backend_pvm %d bool\n", info.pvm);
    for (size_t i = 0; i < sizeof page_counts / sizeof page_counts[0]; i++)
        bench_pages(p, page_counts[i]);
    bench_spin(p);
    printf("DETAIL bench_total_s %.3f s\n", now_s() - t0);
    close(kvm_fd);
    free(raw_cpuid);
    free(caps.msr_index);
    return 0;
}
