/* SPDX-License-Identifier: MIT */
/* The sandbox's default system-call policy, its streams, small calls and
 * host-function calls (the heap is in sandbox_mm.c). Every guest address is
 * checked against the program's memory before use. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libvmm/sandbox_guest.h>

#include "sandbox_internal.h"

#define PAGE 4096ull

/* Linux x86-64 system-call numbers the default policy serves. */
enum {
    NR_read = 0,
    NR_write = 1,
    NR_close = 3,
    NR_lseek = 8,
    NR_mmap = 9,
    NR_mprotect = 10,
    NR_munmap = 11,
    NR_brk = 12,
    NR_rt_sigaction = 13,
    NR_rt_sigprocmask = 14,
    NR_ioctl = 16,
    NR_readv = 19,
    NR_writev = 20,
    NR_sched_yield = 24,
    NR_mremap = 25,
    NR_madvise = 28,
    NR_getpid = 39,
    NR_exit = 60,
    NR_uname = 63,
    NR_gettimeofday = 96,
    NR_getuid = 102,
    NR_getgid = 104,
    NR_geteuid = 107,
    NR_getegid = 108,
    NR_getppid = 110,
    NR_sigaltstack = 131,
    NR_arch_prctl = 158,
    NR_gettid = 186,
    NR_time = 201,
    NR_set_tid_address = 218,
    NR_clock_gettime = 228,
    NR_clock_getres = 229,
    NR_exit_group = 231,
    NR_getrandom = 318,
};

#define ARCH_SET_FS   0x1002
#define ARCH_GET_FS   0x1003
#define MSR_FS_BASE   0xc0000100u
#define IOV_MAX_      1024
#define GETRANDOM_MAX (1u << 20)

/* ---- streams ---- */

static int64_t out_append(vmm_sandbox *sb, int fd, const uint8_t *p, uint64_t n, bool *full)
{
    if (sb->o.max_output && n > sb->o.max_output - sb->out_total) {
        n = sb->o.max_output - sb->out_total;
        *full = true;
    }
    int host_fd = fd == 1 ? sb->o.stdout_fd : sb->o.stderr_fd;
    if (host_fd >= 0) {
        uint64_t done = 0;
        while (done < n) {
            ssize_t w = write(host_fd, p + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return done ? (int64_t)done : -errno;
            done += (uint64_t)w;
        }
    } else if (n) {
        struct vmm__sbx_out *o = &sb->out[fd - 1];
        if (o->len + n > o->cap) {
            size_t cap = o->cap ? o->cap : 4096;
            while (cap < o->len + n)
                cap *= 2;
            char *b = realloc(o->buf, cap);
            if (!b)
                return -ENOMEM;
            o->buf = b;
            o->cap = cap;
        }
        memcpy(o->buf + o->len, p, (size_t)n);
        o->len += (size_t)n;
    }
    sb->out_total += n;
    return (int64_t)n;
}

struct iov {
    uint64_t base, len;
};

/* Read the program's iovec array (validated) into a host copy. */
static int64_t get_iov(vmm_sandbox *sb, uint64_t addr, uint64_t cnt, struct iov *v)
{
    if (cnt > IOV_MAX_)
        return -EINVAL;
    if (!vmm__sbx_user_range(sb, addr, cnt * sizeof *v))
        return -EFAULT;
    memcpy(v, sb->ram + addr, (size_t)cnt * sizeof *v);
    uint64_t total = 0;
    for (uint64_t i = 0; i < cnt; i++) {
        if (v[i].len > INT64_MAX - total)
            return -EINVAL;
        total += v[i].len;
        if (v[i].len && !vmm__sbx_user_range(sb, v[i].base, v[i].len))
            return -EFAULT;
    }
    return 0;
}

static int64_t sys_write(vmm_sandbox *sb, uint64_t fd, const struct iov *v, uint64_t cnt)
{
    if (fd != 1 && fd != 2)
        return -EBADF;
    int64_t total = 0;
    bool full = false;
    for (uint64_t i = 0; i < cnt && !full; i++) {
        int64_t r = out_append(sb, (int)fd, sb->ram + v[i].base, v[i].len, &full);
        if (r < 0)
            return total ? total : r;
        total += r;
    }
    if (full)
        sb->res->outcome = VMM_SANDBOX_OUTPUT_LIMIT;
    return total;
}

static int64_t sys_read(vmm_sandbox *sb, uint64_t fd, const struct iov *v, uint64_t cnt)
{
    if (fd != 0)
        return -EBADF;
    int64_t total = 0;
    for (uint64_t i = 0; i < cnt && sb->in_pos < sb->in_len; i++) {
        size_t n = sb->in_len - sb->in_pos;
        if (n > v[i].len)
            n = (size_t)v[i].len;
        if (vmm_mem_write(sb->vm, v[i].base, sb->in + sb->in_pos, n) < 0)
            return total ? total : -EFAULT;
        sb->in_pos += n;
        total += (int64_t)n;
    }
    return total;
}

/* ---- small calls ---- */

static int64_t put(vmm_sandbox *sb, uint64_t gva, const void *p, size_t n)
{
    if (!vmm__sbx_user_range(sb, gva, n) || vmm_mem_write(sb->vm, gva, p, n) < 0)
        return -EFAULT;
    return 0;
}

static int64_t sys_clock_gettime(vmm_sandbox *sb, uint64_t clk, uint64_t ts, bool res)
{
    clockid_t id;
    switch (clk) {
    case 0:
        id = CLOCK_REALTIME;
        break;
    case 1:
        id = CLOCK_MONOTONIC;
        break;
    case 2:
    case 3:
        id = CLOCK_THREAD_CPUTIME_ID;
        break;
    case 4:
        id = CLOCK_MONOTONIC_RAW;
        break;
    case 5:
        id = CLOCK_REALTIME_COARSE;
        break;
    case 6:
        id = CLOCK_MONOTONIC_COARSE;
        break;
    case 7:
        id = CLOCK_BOOTTIME;
        break;
    default:
        return -EINVAL;
    }
    struct timespec t;
    if ((res ? clock_getres(id, &t) : clock_gettime(id, &t)) < 0)
        return -EINVAL;
    if (!ts)
        return res ? 0 : -EFAULT;
    const int64_t v[2] = {t.tv_sec, t.tv_nsec};
    return put(sb, ts, v, sizeof v);
}

static int64_t sys_uname(vmm_sandbox *sb, uint64_t buf)
{
    char u[6][65];
    memset(u, 0, sizeof u);
    strcpy(u[0], "Linux");
    strcpy(u[1], "sandbox");
    strcpy(u[2], "6.1.0-libvmm");
    strcpy(u[3], "#1 libvmm sandbox");
    strcpy(u[4], "x86_64");
    strcpy(u[5], "(none)");
    return put(sb, buf, u, sizeof u);
}

static int64_t sys_arch_prctl(vmm_sandbox *sb, uint64_t code, uint64_t addr)
{
    if (code == ARCH_SET_FS) {
        /* A non-canonical base would make the MSR write fail. */
        if (addr >= (1ull << 47))
            return -EPERM;
        vmm_msr m = {MSR_FS_BASE, addr};
        return sb->vcpu->vm->hv->msrs(sb->vcpu->hv, &m, 1, true) < 0 ? -EINVAL : 0;
    }
    if (code == ARCH_GET_FS) {
        vmm_msr m = {MSR_FS_BASE, 0};
        if (sb->vcpu->vm->hv->msrs(sb->vcpu->hv, &m, 1, false) < 0)
            return -EINVAL;
        return put(sb, addr, &m.value, sizeof m.value);
    }
    return -EINVAL;
}

static int64_t sys_getrandom(vmm_sandbox *sb, uint64_t buf, uint64_t len)
{
    if (len > GETRANDOM_MAX)
        len = GETRANDOM_MAX; /* a short read, as Linux gives for large requests */
    if (!vmm__sbx_user_range(sb, buf, len))
        return -EFAULT;
    void *p;
    if (vmm_mem_host_ptr(sb->vm, buf, len, &p) < 0)
        return -EFAULT;
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom((uint8_t *)p + done, (size_t)len - done, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return done ? (int64_t)done : -EIO;
        done += (size_t)n;
    }
    return (int64_t)len;
}

/* ---- host functions ---- */

static int64_t hostcall(vmm_sandbox *sb, const uint64_t *a)
{
    uint64_t name_at = a[0], in = a[1], in_len = a[2], out = a[3], out_cap = a[4];
    char name[64];
    if (!vmm__sbx_user_range(sb, name_at, 1))
        return -EFAULT;
    size_t avail = (size_t)(sb->o.memory_size - name_at);
    size_t n = avail < sizeof name ? avail : sizeof name;
    memcpy(name, sb->ram + name_at, n);
    if (!memchr(name, 0, n))
        return -EINVAL;
    const struct vmm__sbx_fn *f = NULL;
    for (size_t i = 0; i < sb->nfns && !f; i++)
        if (strcmp(sb->fns[i].name, name) == 0)
            f = &sb->fns[i];
    if (!f)
        return -ENOENT;
    if (in_len > sb->o.max_call_bytes || out_cap > sb->o.max_call_bytes)
        return -E2BIG;
    if ((in_len && !vmm__sbx_user_range(sb, in, in_len)) ||
        (out_cap && !vmm__sbx_user_range(sb, out, out_cap)))
        return -EFAULT;
    /* Copies: the function never sees guest memory, which stays the guest's. */
    uint8_t *ib = malloc(in_len ? (size_t)in_len : 1), *ob = malloc(out_cap ? (size_t)out_cap : 1);
    int64_t r = -ENOMEM;
    if (ib && ob) {
        memcpy(ib, sb->ram + in, (size_t)in_len);
        r = f->fn(f->opaque, ib, (size_t)in_len, ob, (size_t)out_cap);
        if (r > (int64_t)out_cap)
            r = -EIO;
        else if (r > 0 && vmm_mem_write(sb->vm, out, ob, (size_t)r) < 0)
            r = -EFAULT;
    }
    free(ib);
    free(ob);
    return r;
}

/* ---- the policy ---- */

static int64_t deny(vmm_sandbox *sb, uint64_t nr)
{
    sb->res->denied++;
    uint64_t dropped;
    if (vmm__ratelimit_ok(&sb->rl, &dropped))
        vmm__log(VMM_LOG_INFO, "sandbox",
                 "system call %llu denied with ENOSYS (%llu earlier messages dropped)",
                 (unsigned long long)nr, (unsigned long long)dropped);
    return -ENOSYS;
}

/* read, write, readv, writev: on the standard descriptors only. */
static int64_t sys_rw(vmm_sandbox *sb, const vmm_sandbox_syscall *c)
{
    const uint64_t *a = c->args;
    struct iov one, v[IOV_MAX_];
    int64_t r;
    bool wr = c->nr == NR_write || c->nr == NR_writev;
    if (c->nr == NR_write || c->nr == NR_read) {
        one = (struct iov){a[1], a[2]};
        if (one.len > INT64_MAX || (one.len && !vmm__sbx_user_range(sb, one.base, one.len)))
            return -EFAULT;
        return wr ? sys_write(sb, a[0], &one, 1) : sys_read(sb, a[0], &one, 1);
    }
    if ((r = get_iov(sb, a[1], a[2], v)) < 0)
        return r;
    return wr ? sys_write(sb, a[0], v, a[2]) : sys_read(sb, a[0], v, a[2]);
}

/* No signals are delivered in a sandbox: the old mask is empty and every
 * old action the default. */
static int64_t sys_signals(vmm_sandbox *sb, const vmm_sandbox_syscall *c)
{
    const uint64_t *a = c->args;
    static const uint8_t none[32];
    if (!a[2])
        return 0;
    int64_t r = put(sb, a[2], none, c->nr == NR_rt_sigprocmask ? 8 : sizeof none);
    return r < 0 ? r : 0;
}

/* The clocks: the host's. */
static int64_t sys_time(vmm_sandbox *sb, const vmm_sandbox_syscall *c)
{
    const uint64_t *a = c->args;
    if (c->nr == NR_clock_gettime || c->nr == NR_clock_getres)
        return sys_clock_gettime(sb, a[0], a[1], c->nr == NR_clock_getres);
    if (c->nr == NR_gettimeofday) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        const int64_t tv[2] = {t.tv_sec, t.tv_nsec / 1000};
        return a[0] ? put(sb, a[0], tv, sizeof tv) : 0;
    }
    int64_t t = (int64_t)time(NULL), r; /* NR_time */
    if (a[0] && (r = put(sb, a[0], &t, sizeof t)) < 0)
        return r;
    return t;
}

static int64_t policy(vmm_sandbox *sb, const vmm_sandbox_syscall *c)
{
    const uint64_t *a = c->args;
    switch (c->nr) {
    case NR_write:
    case NR_read:
    case NR_writev:
    case NR_readv:
        return sys_rw(sb, c);
    case NR_exit:
    case NR_exit_group:
        sb->res->outcome = VMM_SANDBOX_EXITED;
        sb->res->status = (int)(a[0] & 0xff);
        return 0;
    case NR_brk:
        return vmm__sbx_brk(sb, a[0]);
    case NR_mmap:
        return vmm__sbx_mmap(sb, a);
    case NR_munmap:
        return vmm__sbx_munmap(sb, a[0], a[1]);
    case NR_mremap:
        return vmm__sbx_mremap(sb, a);
    case NR_mprotect:
    case NR_madvise:
        /* Protections are not enforced (sandbox.h); the range must exist. */
        return (a[0] & (PAGE - 1)) ? -EINVAL : vmm__sbx_user_range(sb, a[0], a[1]) ? 0 : -ENOMEM;
    case NR_arch_prctl:
        return sys_arch_prctl(sb, a[0], a[1]);
    case NR_set_tid_address:
    case NR_gettid:
    case NR_getpid:
        return 1;
    case NR_getppid:
    case NR_getuid:
    case NR_geteuid:
    case NR_getgid:
    case NR_getegid:
    case NR_sigaltstack:
    case NR_sched_yield:
        return 0;
    case NR_ioctl:
        return a[0] <= 2 ? -ENOTTY : -EBADF;
    case NR_lseek:
        return a[0] <= 2 ? -ESPIPE : -EBADF;
    case NR_close:
        return a[0] <= 2 ? 0 : -EBADF;
    case NR_rt_sigprocmask:
    case NR_rt_sigaction:
        return sys_signals(sb, c);
    case NR_clock_gettime:
    case NR_clock_getres:
    case NR_gettimeofday:
    case NR_time:
        return sys_time(sb, c);
    case NR_uname:
        return sys_uname(sb, a[0]);
    case NR_getrandom:
        return sys_getrandom(sb, a[0], a[1]);
    case VMM_HOSTCALL_NR:
        return hostcall(sb, a);
    default:
        return deny(sb, c->nr);
    }
}

int vmm__sbx_syscall(vmm_sandbox *sb, vmm_sandbox_syscall *call)
{
    int action = VMM_SANDBOX_DEFAULT;
    if (sb->o.syscall) {
        struct vmm__err_saved saved;
        vmm__err_save(&saved);
        action = sb->o.syscall(sb->o.syscall_opaque, sb, call);
        if (action != VMM_SANDBOX_DEFAULT && action != VMM_SANDBOX_HANDLED) {
            sb->res->outcome = VMM_SANDBOX_KILLED;
            return SBX_END;
        }
        vmm__err_restore(&saved);
    }
    if (action == VMM_SANDBOX_DEFAULT)
        call->ret = policy(sb, call);
    return sb->res->outcome ? SBX_END : SBX_CONTINUE;
}
