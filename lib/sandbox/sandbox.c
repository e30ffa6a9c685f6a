/* SPDX-License-Identifier: MIT */
/* Sandboxes: a VM, the guest runtime and a static ELF program; the run loop
 * that answers the program's system calls; reset to the post-load snapshot. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox_internal.h"

#define PAGE  4096ull
#define LARGE VMM__SBX_LARGE_PAGE
#define GIB   (1ull << 30)

/* Page-table entry bits; accessed and dirty are preset so the CPU never
 * writes the tables (which keeps them out of every reset). */
#define PTE_P  0x1ull
#define PTE_W  0x2ull
#define PTE_U  0x4ull
#define PTE_A  0x20ull
#define PTE_D  0x40ull
#define PTE_PS 0x80ull

#define CR0_PE         0x1ull
#define CR0_MP         0x2ull
#define CR0_ET         0x10ull
#define CR0_NE         0x20ull
#define CR0_WP         0x10000ull
#define CR0_PG         0x80000000ull
#define CR4_PAE        0x20ull
#define CR4_OSFXSR     0x200ull
#define CR4_OSXMMEXCPT 0x400ull
#define EFER_SCE       0x1ull
#define EFER_LME       0x100ull
#define EFER_LMA       0x400ull

static const vmm_sandbox_options defaults = VMM_SANDBOX_OPTIONS_INIT;
static const size_t sizes[] = {0, sizeof(vmm_sandbox_options)};

int vmm_sandbox_options_init(vmm_sandbox_options *opts, unsigned int version)
{
    return vmm__options_init(opts, version, &defaults, sizes, VMM_SANDBOX_OPTIONS_VERSION,
                             "vmm_sandbox_options");
}

static int check_options(const vmm_sandbox_options *o)
{
    if (o->flags & ~VMM_SANDBOX_ONESHOT)
        return vmm__err(VMM_EINVAL, "vmm_sandbox_create: unknown flags 0x%x", o->flags);
    if (o->memory_size % LARGE || o->memory_size < VMM__SBX_MIN_MEMORY ||
        o->memory_size > VMM__SBX_MAX_MEMORY)
        return vmm__err(VMM_EINVAL,
                        "vmm_sandbox_create: memory_size 0x%llx must be a multiple of 2 MiB "
                        "from 8 MiB to 3 GiB",
                        (unsigned long long)o->memory_size);
    if (o->stack_size % LARGE || o->stack_size == 0)
        return vmm__err(VMM_EINVAL,
                        "vmm_sandbox_create: stack_size 0x%llx must be a non-zero multiple of "
                        "2 MiB",
                        (unsigned long long)o->stack_size);
    /* The first 2 MiB, the stack, its guard and at least 2 MiB for the program. */
    if (o->stack_size > o->memory_size - 3 * LARGE)
        return vmm__err(VMM_EINVAL,
                        "vmm_sandbox_create: stack_size 0x%llx leaves no room in memory_size "
                        "0x%llx",
                        (unsigned long long)o->stack_size, (unsigned long long)o->memory_size);
    if (o->stdout_fd < -1 || o->stderr_fd < -1)
        return vmm__err(VMM_EINVAL, "vmm_sandbox_create: bad stdout_fd or stderr_fd");
    if (o->max_output == 0 && (o->stdout_fd < 0 || o->stderr_fd < 0))
        return vmm__err(VMM_EINVAL, "vmm_sandbox_create: max_output 0 (no limit) needs both "
                                    "streams passed to file descriptors");
    if (o->max_call_bytes == 0 || o->max_call_bytes > (1ull << 30))
        return vmm__err(VMM_EINVAL, "vmm_sandbox_create: max_call_bytes must be 1..1 GiB");
    return 0;
}

/* Identity page tables: 4 KiB pages for the first 2 MiB (the null page and
 * the page tables unmapped, the runtime read-only or kernel-only), 2 MiB
 * user pages above, except the stack guard. */
static int write_page_tables(vmm_sandbox *sb)
{
    uint64_t size = sb->o.memory_size;
    uint64_t npd = (size + GIB - 1) / GIB;
    uint64_t tables = VMM__SBX_PD + npd * PAGE - VMM__SBX_PML4;
    void *p;
    int rc = vmm_mem_host_ptr(sb->vm, VMM__SBX_PML4, tables, &p);
    if (rc < 0)
        return rc;
    uint8_t *t = p;
    memset(t, 0, tables);
#define ENTRY(table, i) ((uint64_t *)(void *)(t + ((table)-VMM__SBX_PML4)))[i]
    const uint64_t dir = PTE_P | PTE_W | PTE_U | PTE_A;
    ENTRY(VMM__SBX_PML4, 0) = VMM__SBX_PDPT | dir;
    for (uint64_t i = 0; i < npd; i++)
        ENTRY(VMM__SBX_PDPT, i) = (VMM__SBX_PD + i * PAGE) | dir;
    ENTRY(VMM__SBX_PD, 0) = VMM__SBX_PT0 | dir;
    const uint64_t kern = PTE_P | PTE_W | PTE_A | PTE_D;
    /* The runtime's code and mailbox page is user-readable (see runtime.S),
     * never writable by the guest. */
    ENTRY(VMM__SBX_PT0, VMM__SBX_RT_BASE / PAGE) = VMM__SBX_RT_BASE | PTE_P | PTE_U | PTE_A;
    ENTRY(VMM__SBX_PT0, VMM__SBX_RT_BASE / PAGE + 1) = (VMM__SBX_RT_BASE + PAGE) | kern;
    /* The kernel stack holds the IRETQ frame the system-call path reads, so
     * it is user-readable too; CR0.WP is clear, so CPL 0 may push onto it
     * while the program cannot write it. */
    ENTRY(VMM__SBX_PT0, (VMM__SBX_KSTACK_TOP - PAGE) / PAGE) =
        (VMM__SBX_KSTACK_TOP - PAGE) | PTE_P | PTE_U | PTE_A | PTE_D;
    const uint64_t user = PTE_P | PTE_W | PTE_U | PTE_A | PTE_D;
    for (uint64_t a = VMM__SBX_USER_LO; a < LARGE; a += PAGE)
        ENTRY(VMM__SBX_PT0, a / PAGE) = a | user;
    for (uint64_t a = LARGE; a < size; a += LARGE)
        if (a < sb->guard_lo || a >= sb->stack_lo)
            ENTRY(VMM__SBX_PD, a / LARGE) = a | user | PTE_PS;
#undef ENTRY
    return 0;
}

/* Long mode at CPL 0 at the runtime's start-up code; the runtime loads its
 * own GDT, IDT and TSS. */
static int set_cpu(vmm_sandbox *sb)
{
    vmm_sregs s;
    int rc = vmm_vcpu_get_sregs(sb->vcpu, &s);
    if (rc < 0)
        return rc;
    s.cs = vmm__x86_flat_seg(0x08, 0xb, 0, true, false);
    s.ss = vmm__x86_flat_seg(0x10, 0x3, 0, false, true);
    /* User data in DS-GS: an IRETQ to CPL 3 keeps them (their DPL is 3). */
    s.ds = s.es = s.fs = s.gs = vmm__x86_flat_seg(VMM__SBX_USER_SS, 0x3, 3, false, true);
    /* With the I/O bitmap (runtime.S); the runtime loads TR again itself. */
    vmm__x86_system_segs(&s, VMM__SBX_RT_BASE + VMM__SBX_OFF_TSS, 104 + 33 - 1, 0x30);
    s.gdt = (vmm_dtable){0, 0}; /* the runtime loads its own */
    s.idt = (vmm_dtable){0, 0};
    /* No CR0.WP: CPL 0 pushes exception frames onto the read-only kernel
     * stack (see write_page_tables()). */
    s.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_PG;
    s.cr3 = VMM__SBX_PML4;
    s.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    s.efer = EFER_SCE | EFER_LME | EFER_LMA;
    vmm_regs r = {0};
    r.rip = VMM__SBX_RT_BASE;
    r.rsp = VMM__SBX_KSTACK_TOP;
    r.rflags = 0x2;
    if ((rc = vmm_vcpu_set_sregs(sb->vcpu, &s)) < 0 || (rc = vmm_vcpu_set_regs(sb->vcpu, &r)) < 0)
        return rc;
    /* Exceptions in the program come back as VMM_EXIT_FAULT through the
     * runtime's stubs, which follow vmm_x86_setup()'s format. */
    sb->vcpu->exc_bits = 64;
    sb->vcpu->exc_stubs = VMM__SBX_RT_BASE + VMM__SBX_OFF_STUBS;
    return 0;
}

int vmm_sandbox_create(vmm_sandbox **out, const vmm_sandbox_options *opts)
{
    if (!out)
        return vmm__err(VMM_EINVAL, "vmm_sandbox_create: NULL argument");
    *out = NULL;
    vmm_sandbox_options o = defaults;
    int rc = opts ? vmm__options_copy(&o, sizeof o, opts, sizes, VMM_SANDBOX_OPTIONS_VERSION,
                                      "vmm_sandbox_options")
                  : 0;
    if (rc < 0 || (rc = check_options(&o)) < 0)
        return rc;
    vmm_sandbox *sb = calloc(1, sizeof *sb);
    if (!sb)
        return vmm__err(VMM_ENOMEM, "vmm_sandbox_create: out of memory");
    sb->o = o;
    sb->stack_lo = o.memory_size - o.stack_size;
    sb->guard_lo = sb->stack_lo - LARGE;
    atomic_init(&sb->stop, false);
    vmm_vm_options vo = VMM_VM_OPTIONS_INIT;
    void *ram;
    if ((rc = vmm_vm_create(&sb->vm, &vo)) < 0 ||
        (rc = vmm_mem_map(sb->vm, 0, o.memory_size, NULL, 0)) < 0 ||
        (rc = vmm_mem_host_ptr(sb->vm, 0, o.memory_size, &ram)) < 0 ||
        (rc = vmm_vcpu_create(&sb->vcpu, sb->vm, 0)) < 0)
        goto fail;
    sb->ram = ram;
    if ((rc = write_page_tables(sb)) < 0 ||
        (rc = vmm_mem_write(sb->vm, VMM__SBX_RT_BASE, vmm__sbx_runtime,
                            (size_t)vmm__sbx_runtime_size)) < 0 ||
        (rc = set_cpu(sb)) < 0)
        goto fail;
    *out = sb;
    return 0;
fail:
    vmm__err_prefix("vmm_sandbox_create");
    vmm_sandbox_destroy(sb);
    return rc;
}

void vmm_sandbox_destroy(vmm_sandbox *sb)
{
    if (!sb)
        return;
    vmm_snapshot_free(sb->snap);
    vmm_vm_destroy(sb->vm);
    vmm__sbx_mm_free(sb);
    for (int i = 0; i < 2; i++)
        free(sb->out[i].buf);
    free(sb->in);
    free(sb->fns);
    free(sb);
}

bool vmm__sbx_user_range(const vmm_sandbox *sb, uint64_t gva, uint64_t len)
{
    return gva >= VMM__SBX_USER_LO && gva <= sb->o.memory_size && len <= sb->o.memory_size - gva;
}

/* Whether the vCPU stopped at the runtime's OUT at blob offset off (KVM may
 * report RIP at the OUT or past it). */
static bool at_out(const vmm_regs *r, uint64_t off)
{
    uint64_t out = VMM__SBX_RT_BASE + off;
    return r->rip == out || r->rip == out + 2;
}

/* Run the runtime's start-up until its ready report: an OUT at a known
 * address. Anything else means the VM could not start it. */
static int start_runtime(vmm_sandbox *sb)
{
    vmm_exit x;
    int rc = vmm__vcpu_run_until(sb->vcpu, &x, vmm__now_ns() + 10ull * 1000000000ull);
    if (rc < 0)
        return rc;
    vmm_regs r;
    if (x.reason == VMM_EXIT_IO && x.io.port == VMM__SBX_PORT &&
        sb->vcpu->vm->hv->get_regs(sb->vcpu->hv, &r) == 0 && at_out(&r, VMM__SBX_OFF_READY))
        return 0;
    return vmm__err(VMM_EKVM, "the sandbox runtime did not start: exit %s",
                    vmm_exit_reason_name(x.reason));
}

static int write_frame(vmm_sandbox *sb, uint64_t rip, uint64_t rflags, uint64_t rsp)
{
    const uint64_t frame[5] = {rip, VMM__SBX_USER_CS, rflags, rsp, VMM__SBX_USER_SS};
    return vmm_mem_write(sb->vm, VMM__SBX_FRAME, frame, sizeof frame);
}

static int load_program(vmm_sandbox *sb, const uint8_t *buf, size_t len, const char *const *argv,
                        const char *const *envp)
{
    struct vmm__sbx_image img;
    int rc = vmm__sbx_elf_check(buf, len, VMM__SBX_USER_LO, sb->guard_lo, &img);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < img.nsegs; i++)
        if ((rc = vmm_mem_write(sb->vm, img.segs[i].vaddr, buf + img.segs[i].offset,
                                (size_t)img.segs[i].filesz)) < 0)
            return rc;
    uint8_t rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return vmm__err(VMM_EIO, "getrandom: %s", strerror(errno));
    void *stack;
    uint64_t rsp;
    if ((rc = vmm_mem_host_ptr(sb->vm, sb->stack_lo, sb->o.stack_size, &stack)) < 0 ||
        (rc = vmm__sbx_build_stack(stack, sb->stack_lo, sb->o.memory_size, &img, argv, envp, rnd,
                                   &rsp)) < 0)
        return rc;
    if ((rc = vmm__sbx_mm_init(sb, img.hi, sb->guard_lo)) < 0 ||
        (rc = write_frame(sb, img.entry, 0x2, rsp)) < 0 || (rc = start_runtime(sb)) < 0)
        return rc;
    if (!(sb->o.flags & VMM_SANDBOX_ONESHOT) && (rc = vmm_snapshot_take(sb->vm, &sb->snap)) < 0)
        return rc;
    sb->state = SBX_READY;
    return 0;
}

static int load(vmm_sandbox *sb, const uint8_t *buf, size_t len, const char *const *argv,
                const char *const *envp)
{
    if (sb->state != SBX_EMPTY)
        return vmm__err(VMM_ESTATE, "a program is already loaded in this sandbox");
    int rc = load_program(sb, buf, len, argv, envp);
    /* Guest memory and the vCPU may be half set up: no second try. */
    if (rc < 0)
        sb->state = SBX_DONE;
    return rc;
}

int vmm_sandbox_load_buffer(vmm_sandbox *sb, const void *elf, size_t len, const char *const *argv,
                            const char *const *envp)
{
    if (!sb || !elf || !argv)
        return vmm__err(VMM_EINVAL, "vmm_sandbox_load_buffer: NULL argument");
    int rc = load(sb, elf, len, argv, envp);
    if (rc < 0)
        vmm__err_prefix("vmm_sandbox_load");
    return rc;
}

int vmm_sandbox_load(vmm_sandbox *sb, const char *path, const char *const *argv,
                     const char *const *envp)
{
    if (!sb || !path)
        return vmm__err(VMM_EINVAL, "vmm_sandbox_load: NULL argument");
    if (sb->state != SBX_EMPTY)
        return vmm__err(VMM_ESTATE, "vmm_sandbox_load: a program is already loaded");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vmm__err(errno == ENOENT ? VMM_ENOENT : VMM_EIO, "vmm_sandbox_load: %s: %s", path,
                        strerror(errno));
    struct stat st;
    int rc = 0;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = vmm__err(VMM_EINVAL, "vmm_sandbox_load: %s: not a regular file", path);
    else if ((uint64_t)st.st_size > sb->o.memory_size)
        rc = vmm__err(VMM_ENOMEM,
                      "vmm_sandbox_load: %s: %lld bytes, more than the sandbox's "
                      "memory",
                      path, (long long)st.st_size);
    else if (!(buf = malloc(st.st_size ? (size_t)st.st_size : 1)))
        rc = vmm__err(VMM_ENOMEM, "vmm_sandbox_load: out of memory");
    size_t got = 0;
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = vmm__err(VMM_EIO, "vmm_sandbox_load: reading %s: %s", path,
                          n < 0 ? strerror(errno) : "file shrank");
        else
            got += (size_t)n;
    }
    close(fd);
    const char *dflt[] = {path, NULL};
    if (rc == 0) {
        rc = load(sb, buf, got, argv ? argv : dflt, envp);
        if (rc < 0)
            vmm__err_prefix("vmm_sandbox_load: %s", path);
    }
    free(buf);
    return rc;
}

static bool valid_name(const char *n)
{
    size_t len = strnlen(n, 64);
    if (len == 0 || len > 63)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

int vmm_sandbox_register(vmm_sandbox *sb, const char *name, vmm_sandbox_fn fn, void *opaque)
{
    if (!sb || !name || !fn)
        return vmm__err(VMM_EINVAL, "vmm_sandbox_register: NULL argument");
    if (!valid_name(name))
        return vmm__err(VMM_EINVAL,
                        "vmm_sandbox_register: name must be 1-63 characters of [A-Za-z0-9_.-]");
    for (size_t i = 0; i < sb->nfns; i++)
        if (strcmp(sb->fns[i].name, name) == 0)
            return vmm__err(VMM_EEXIST, "vmm_sandbox_register: \"%s\" is already registered", name);
    struct vmm__sbx_fn *f = realloc(sb->fns, (sb->nfns + 1) * sizeof *f);
    if (!f)
        return vmm__err(VMM_ENOMEM, "vmm_sandbox_register: out of memory");
    sb->fns = f;
    memset(&f[sb->nfns], 0, sizeof f[0]);
    strcpy(f[sb->nfns].name, name);
    f[sb->nfns].fn = fn;
    f[sb->nfns].opaque = opaque;
    sb->nfns++;
    return 0;
}

int vmm_sandbox_set_stdin(vmm_sandbox *sb, const void *data, size_t len)
{
    if (!sb || (!data && len))
        return vmm__err(VMM_EINVAL, "vmm_sandbox_set_stdin: NULL argument");
    uint8_t *copy = NULL;
    if (len && !(copy = malloc(len)))
        return vmm__err(VMM_ENOMEM, "vmm_sandbox_set_stdin: out of memory");
    if (len)
        memcpy(copy, data, len);
    free(sb->in);
    sb->in = copy;
    sb->in_len = len;
    sb->in_pos = 0;
    return 0;
}

/* The RFLAGS bits a program may carry back from a system call: arithmetic
 * flags, DF, AC and ID; never IOPL, NT, TF or IF. */
#define USER_RFLAGS 0x244cd5ull

static int answer(vmm_sandbox *sb, const vmm_regs *r, int64_t ret)
{
    int rc = vmm_mem_write(sb->vm, VMM__SBX_RT_BASE + VMM__SBX_OFF_MBOX, &ret, sizeof ret);
    return rc < 0 ? rc : write_frame(sb, r->rcx, (r->r11 & USER_RFLAGS) | 0x2, r->rsp);
}

int vmm_sandbox_run(vmm_sandbox *sb, vmm_sandbox_result *res)
{
    if (!sb || !res)
        return vmm__err(VMM_EINVAL, "vmm_sandbox_run: NULL argument");
    if (sb->state != SBX_READY)
        return vmm__err(VMM_ESTATE, sb->state == SBX_EMPTY
                                        ? "vmm_sandbox_run: no program loaded"
                                        : "vmm_sandbox_run: the program has run; reset the "
                                          "sandbox first");
    memset(res, 0, sizeof *res);
    sb->state = SBX_DONE;
    sb->res = res;
    uint64_t deadline = sb->o.time_budget_ns ? vmm__now_ns() + sb->o.time_budget_ns : 0;
    int rc = 0;
    while (res->outcome == 0) {
        if (atomic_exchange(&sb->stop, false)) {
            res->outcome = VMM_SANDBOX_STOPPED;
            break;
        }
        vmm_exit x;
        if ((rc = vmm__vcpu_run_until(sb->vcpu, &x, deadline)) < 0)
            break;
        vmm_regs r;
        if (x.reason == VMM_EXIT_IO && x.io.port == VMM__SBX_PORT && x.io.is_write &&
            sb->vcpu->vm->hv->get_regs(sb->vcpu->hv, &r) == 0 && at_out(&r, VMM__SBX_OFF_SYSCALL)) {
            vmm_sandbox_syscall call = {r.rax, {r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9}, 0};
            res->syscalls++;
            if ((rc = vmm__sbx_syscall(sb, &call)) < 0)
                break;
            if (rc == SBX_END)
                break;
            if ((rc = answer(sb, &r, call.ret)) < 0)
                break;
            if (deadline && vmm__now_ns() >= deadline)
                res->outcome = VMM_SANDBOX_TIMEOUT;
            continue;
        }
        switch (x.reason) {
        case VMM_EXIT_FAULT:
            res->outcome = VMM_SANDBOX_FAULT;
            res->fault.vector = x.fault.vector;
            res->fault.error_code = x.fault.error_code;
            res->fault.address = x.fault.address;
            res->fault.rip = x.fault.rip;
            break;
        case VMM_EXIT_TIMEOUT:
            res->outcome = VMM_SANDBOX_TIMEOUT;
            break;
        case VMM_EXIT_KICKED:
            if (atomic_exchange(&sb->stop, false))
                res->outcome = VMM_SANDBOX_STOPPED;
            break;
        default:
            res->outcome = VMM_SANDBOX_CRASHED;
            res->exit = x;
            break;
        }
    }
    if (rc > 0)
        rc = 0;
    sb->res = NULL;
    return rc;
}

int vmm_sandbox_reset(vmm_sandbox *sb)
{
    if (!sb)
        return vmm__err(VMM_EINVAL, "vmm_sandbox_reset: NULL argument");
    if (!sb->snap)
        return vmm__err(VMM_ESTATE, (sb->o.flags & VMM_SANDBOX_ONESHOT) && sb->state != SBX_EMPTY
                                        ? "vmm_sandbox_reset: a one-shot sandbox cannot be reset"
                                        : "vmm_sandbox_reset: no program loaded");
    /* The runtime and the page tables never change after loading, so KVM's
     * shadow page tables can stay; the snapshot code checks this anyway. */
    int rc = vmm_snapshot_restore_flags(sb->vm, sb->snap, VMM_SNAPSHOT_KEEP_PAGE_TABLES);
    if (rc < 0) {
        vmm__err_prefix("vmm_sandbox_reset");
        return rc;
    }
    vmm__sbx_mm_reset(sb);
    for (int i = 0; i < 2; i++)
        sb->out[i].len = 0;
    sb->out_total = 0;
    sb->in_pos = 0;
    sb->state = SBX_READY;
    return 0;
}

int vmm_sandbox_stop(vmm_sandbox *sb)
{
    if (!sb)
        return vmm__err(VMM_EINVAL, "vmm_sandbox_stop: NULL argument");
    atomic_store(&sb->stop, true);
    vmm_vcpu_kick(sb->vcpu);
    return 0;
}

const char *vmm_sandbox_output(const vmm_sandbox *sb, int fd, size_t *len)
{
    if (len)
        *len = 0;
    if (!sb || !len || (fd != 1 && fd != 2))
        return NULL;
    int cap_fd = fd == 1 ? sb->o.stdout_fd : sb->o.stderr_fd;
    if (cap_fd >= 0)
        return NULL;
    *len = sb->out[fd - 1].len;
    return sb->out[fd - 1].buf;
}

int vmm_sandbox_read(vmm_sandbox *sb, uint64_t gva, void *buf, size_t len)
{
    if (!sb || (!buf && len))
        return vmm__err(VMM_EINVAL, "vmm_sandbox_read: NULL argument");
    if (!vmm__sbx_user_range(sb, gva, len))
        return vmm__err(VMM_EFAULT, "vmm_sandbox_read: 0x%llx+%zu is outside the program's memory",
                        (unsigned long long)gva, len);
    memcpy(buf, sb->ram + gva, len);
    return 0;
}

int vmm_sandbox_write(vmm_sandbox *sb, uint64_t gva, const void *buf, size_t len)
{
    if (!sb || (!buf && len))
        return vmm__err(VMM_EINVAL, "vmm_sandbox_write: NULL argument");
    if (!vmm__sbx_user_range(sb, gva, len))
        return vmm__err(VMM_EFAULT, "vmm_sandbox_write: 0x%llx+%zu is outside the program's memory",
                        (unsigned long long)gva, len);
    return vmm_mem_write(sb->vm, gva, buf, len);
}

vmm_vm *vmm_sandbox_vm(vmm_sandbox *sb)
{
    return sb ? sb->vm : NULL;
}
