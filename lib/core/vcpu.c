/* SPDX-License-Identifier: MIT */
/* vCPUs: creation, register access, the run loop, kicks and time budgets.
 * Who runs a vCPU is decided here (one runner thread at a time); how a run
 * is cut short (a signal, a timer) is the backend's (hv.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static _Thread_local pid_t cached_tid;

/* The calling thread's id, cached: vmm_vcpu_run() needs it on every call. */
static pid_t self_tid(void)
{
    if (!cached_tid)
        cached_tid = (pid_t)syscall(SYS_gettid);
    return cached_tid;
}

int vmm_vcpu_create(vmm_vcpu **out, vmm_vm *vm, unsigned int index)
{
    if (!out || !vm)
        return vmm__err(VMM_EINVAL, "vmm_vcpu_create: NULL argument");
    *out = NULL;
    if (index >= vm->max_vcpus)
        return vmm__err(VMM_ERANGE, "vmm_vcpu_create: index %u >= maximum %u", index,
                        vm->max_vcpus);
    if (vm->vcpus[index])
        return vmm__err(VMM_EEXIST, "vmm_vcpu_create: vCPU %u exists", index);
    if (vmm__vm_busy(vm))
        return vmm__err(VMM_EBUSY, "vmm_vcpu_create: a vCPU of the VM is running");
    vmm_vcpu *v = calloc(1, sizeof *v);
    if (!v)
        return vmm__err(VMM_ENOMEM, "vmm_vcpu_create: out of memory");
    v->vm = vm;
    v->index = index;
    pthread_mutex_init(&v->kick_lock, NULL);
    int rc = vm->hv->vcpu_create(vm->hvm, index, &v->hv);
    if (rc == 0)
        rc = vm->hv->set_cpuid(v->hv, NULL, 0, index);
    if (rc < 0) {
        vmm__vcpu_free(v);
        return rc;
    }
    vm->vcpus[index] = v;
    vm->nvcpus++;
    *out = v;
    return 0;
}

void vmm__vcpu_free(vmm_vcpu *v)
{
    if (!v)
        return;
    v->vm->hv->vcpu_destroy(v->hv);
    pthread_mutex_destroy(&v->kick_lock);
    free(v);
}

unsigned int vmm_vcpu_index(const vmm_vcpu *v)
{
    return v ? v->index : 0;
}

vmm_vm *vmm_vcpu_vm(vmm_vcpu *v)
{
    return v ? v->vm : NULL;
}

static int settle(vmm_vcpu *v);

/* Register access is refused while the vCPU runs: KVM would serialise it
 * behind KVM_RUN, blocking the caller for as long as the guest runs. */
#define CHECK_IDLE(v, p, fn)                                                                       \
    do {                                                                                           \
        if (!(v) || !(p))                                                                          \
            return vmm__err(VMM_EINVAL, fn ": NULL argument");                                     \
        pid_t runner_ = atomic_load(&(v)->runner);                                                 \
        if (runner_ && runner_ != self_tid())                                                      \
            return vmm__err(VMM_EBUSY, fn ": vCPU %u is running", (v)->index);                     \
        int settle_rc_ = settle(v);                                                                \
        if (settle_rc_ < 0)                                                                        \
            return settle_rc_;                                                                     \
    } while (0)

int vmm_vcpu_get_regs(vmm_vcpu *v, vmm_regs *r)
{
    CHECK_IDLE(v, r, "vmm_vcpu_get_regs");
    return v->vm->hv->get_regs(v->hv, r);
}

int vmm_vcpu_set_regs(vmm_vcpu *v, const vmm_regs *r)
{
    CHECK_IDLE(v, r, "vmm_vcpu_set_regs");
    return v->vm->hv->set_regs(v->hv, r);
}

int vmm_vcpu_get_sregs(vmm_vcpu *v, vmm_sregs *s)
{
    CHECK_IDLE(v, s, "vmm_vcpu_get_sregs");
    return v->vm->hv->get_sregs(v->hv, s);
}

int vmm_vcpu_set_sregs(vmm_vcpu *v, const vmm_sregs *s)
{
    CHECK_IDLE(v, s, "vmm_vcpu_set_sregs");
    return v->vm->hv->set_sregs(v->hv, s);
}

int vmm_vcpu_get_fpu(vmm_vcpu *v, vmm_fpu *f)
{
    CHECK_IDLE(v, f, "vmm_vcpu_get_fpu");
    return v->vm->hv->get_fpu(v->hv, f);
}

int vmm_vcpu_set_fpu(vmm_vcpu *v, const vmm_fpu *f)
{
    CHECK_IDLE(v, f, "vmm_vcpu_set_fpu");
    return v->vm->hv->set_fpu(v->hv, f);
}

int vmm_vcpu_get_msrs(vmm_vcpu *v, vmm_msr *msrs, size_t n)
{
    CHECK_IDLE(v, msrs, "vmm_vcpu_get_msrs");
    if (n == 0 || n > 256)
        return vmm__err(VMM_EINVAL, "vmm_vcpu_get_msrs: count %zu not in 1..256", n);
    return v->vm->hv->msrs(v->hv, msrs, n, false);
}

int vmm_vcpu_set_msrs(vmm_vcpu *v, const vmm_msr *msrs, size_t n)
{
    CHECK_IDLE(v, msrs, "vmm_vcpu_set_msrs");
    if (n == 0 || n > 256)
        return vmm__err(VMM_EINVAL, "vmm_vcpu_set_msrs: count %zu not in 1..256", n);
    return v->vm->hv->msrs(v->hv, (vmm_msr *)msrs, n, true);
}

int vmm_x86_supported_cpuid(vmm_vm *vm, vmm_cpuid_entry *e, size_t cap, size_t *count)
{
    if (!vm || !count || (!e && cap))
        return vmm__err(VMM_EINVAL, "vmm_x86_supported_cpuid: bad argument");
    return vm->hv->supported_cpuid(vm->hvm, e, cap, count);
}

int vmm_x86_set_cpuid(vmm_vcpu *v, const vmm_cpuid_entry *e, size_t n)
{
    if (!v || (e && (n == 0 || n > 256)))
        return vmm__err(VMM_EINVAL, "vmm_x86_set_cpuid: bad argument");
    if (atomic_load(&v->runner))
        return vmm__err(VMM_EBUSY, "vmm_x86_set_cpuid: vCPU %u is running", v->index);
    return v->vm->hv->set_cpuid(v->hv, e, n, v->index);
}

int vmm_vcpu_set_debug(vmm_vcpu *v, unsigned int flags)
{
    if (!v || (flags & ~(VMM_DEBUG_SINGLESTEP | VMM_DEBUG_SW_BREAKPOINTS)))
        return vmm__err(VMM_EINVAL, "vmm_vcpu_set_debug: bad argument");
    if (atomic_load(&v->runner))
        return vmm__err(VMM_EBUSY, "vmm_vcpu_set_debug: vCPU %u is running", v->index);
    return v->vm->hv->guest_debug(v->hv, flags != 0, flags & VMM_DEBUG_SINGLESTEP,
                                  flags & VMM_DEBUG_SW_BREAKPOINTS);
}

int vmm_vcpu_set_time_budget(vmm_vcpu *v, uint64_t ns)
{
    if (!v)
        return vmm__err(VMM_EINVAL, "vmm_vcpu_set_time_budget: vcpu is NULL");
    if (atomic_load(&v->runner))
        return vmm__err(VMM_EBUSY, "vmm_vcpu_set_time_budget: vCPU %u is running", v->index);
    v->budget_ns = ns;
    return 0;
}

int vmm_vcpu_kick(vmm_vcpu *v)
{
    if (!v)
        return vmm__err(VMM_EINVAL, "vmm_vcpu_kick: vcpu is NULL");
    /* An idle vCPU sees the flag at its next run; a runner is made to leave
     * the backend's run at once, whether it is inside it now or enters it
     * next (hv.h, kick). */
    atomic_store(&v->kick, true);
    /* kick_lock keeps the thread id valid: the runner clears `runner` under
     * it before leaving vmm_vcpu_run(), so the thread cannot be gone (and its
     * id reused) while the backend signals it. */
    pthread_mutex_lock(&v->kick_lock);
    pid_t tid = atomic_load(&v->runner);
    if (tid)
        v->vm->hv->kick(v->hv, tid);
    pthread_mutex_unlock(&v->kick_lock);
    return 0;
}

/* Make the calling thread a possible runner of v before it is published as
 * one: a kick signals the runner (hv.h, run_thread). */
static int prepare_thread(vmm_vcpu *v, pid_t tid)
{
    return v->vm->hv->run_thread(v->hv, tid);
}

static void release_runner(vmm_vcpu *v)
{
    pthread_mutex_lock(&v->kick_lock);
    atomic_store(&v->runner, 0);
    pthread_mutex_unlock(&v->kick_lock);
}

/* Finish an I/O instruction KVM is waiting to complete (after an exit to the
 * caller, a device's stop request or a kick), without running guest code:
 * KVM_RUN with immediate_exit completes it and returns -EINTR. Until then the
 * vCPU's registers are not consistent (KVM API, "KVM_RUN"). Caller owns the
 * vCPU (is its runner). */
static int complete_pending_io(vmm_vcpu *v)
{
    if (!v->io_pending)
        return 0;
    int r = v->vm->hv->complete_io(v->hv);
    v->io_pending = false;
    if (r == 1)
        return vmm__err(VMM_ESTATE,
                        "vCPU %u: a string I/O instruction needs more I/O; run the vCPU to "
                        "finish it",
                        v->index);
    if (r < 0)
        return vmm__err(VMM_EKVM, "completing I/O on vCPU %u: %s", v->index, strerror(-r));
    return 0;
}

/* Make the vCPU's state consistent before the caller reads or writes it.
 * Called with no runner (the caller's own thread takes the vCPU briefly) or
 * from the runner itself (a device or exit callback), which needs nothing. */
static int settle(vmm_vcpu *v)
{
    if (!v->io_pending)
        return 0;
    pid_t tid = self_tid();
    int expected = 0;
    if (!atomic_compare_exchange_strong(&v->runner, &expected, tid))
        return expected == tid ? 0 : vmm__err(VMM_EBUSY, "vCPU %u is running", v->index);
    int rc = prepare_thread(v, tid);
    if (rc == 0)
        rc = complete_pending_io(v);
    release_runner(v);
    return rc;
}

int vmm__vcpu_acquire(vmm_vcpu *v)
{
    pid_t tid = self_tid();
    int rc = prepare_thread(v, tid);
    if (rc < 0)
        return rc;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&v->runner, &expected, tid))
        return vmm__err(VMM_EBUSY, "vCPU %u is running", v->index);
    if ((rc = complete_pending_io(v)) < 0)
        release_runner(v);
    return rc;
}

void vmm__vcpu_release(vmm_vcpu *v)
{
    release_runner(v);
}

/* Fill in the instruction bytes of an internal error from guest memory when KVM
 * did not supply them (best effort: the guest's page tables may be bogus). */
static void describe_internal_error(vmm_vcpu *v, vmm_exit *x)
{
    /* Best effort: failures here are not the caller's errors, keep theirs. */
    struct vmm__err_saved saved;
    vmm__err_save(&saved);
    vmm_regs r;
    vmm_sregs s;
    if (v->vm->hv->get_regs(v->hv, &r) == 0 && v->vm->hv->get_sregs(v->hv, &s) == 0) {
        x->internal.rip = r.rip;
        /* KVM may have supplied the bytes; else read up to 15 at CS:RIP. */
        uint64_t linear = s.cs.base + r.rip;
        if (x->internal.insn_len == 0)
            while (x->internal.insn_len < 15 &&
                   vmm_vcpu_read_virt(v, linear + x->internal.insn_len,
                                      &x->internal.insn[x->internal.insn_len], 1) == 0)
                x->internal.insn_len++;
    }
    vmm__err_restore(&saved);
}

/* An OUT to VMM__EXC_PORT: if it came from one of vmm_x86_setup()'s exception
 * stubs, turn the exit into VMM_EXIT_FAULT. The stub has pushed RAX on top of
 * the CPU's exception frame. Returns false for any other OUT (left as it is). */
static bool decode_fault(vmm_vcpu *v, vmm_exit *x)
{
    if (!v->exc_bits || x->io.port != VMM__EXC_PORT || !x->io.is_write || x->io.size != 1 ||
        x->io.count != 1)
        return false;
    struct vmm__err_saved saved;
    vmm__err_save(&saved);
    unsigned int vector = x->io.data[0];
    vmm_regs r;
    vmm_sregs s;
    bool ok = vector < VMM__EXC_VECTORS && v->vm->hv->get_regs(v->hv, &r) == 0 &&
              v->vm->hv->get_sregs(v->hv, &s) == 0;
    /* The stub's own address (KVM may or may not have stepped past the OUT). */
    uint64_t stub = v->exc_stubs + (uint64_t)vector * VMM__EXC_STUB_SIZE;
    ok = ok && r.rip >= stub && r.rip <= stub + VMM__EXC_STUB_SIZE;
    size_t w = v->exc_bits / 8;
    uint64_t frame[2] = {0}; /* [error code], RIP: the rest of the frame is not reported */
    bool err = vmm__x86_has_error_code(vector);
    if (ok) {
        uint64_t at = s.ss.base + r.rsp + w; /* past the saved RAX */
        for (size_t i = 0; ok && i < (err ? 2u : 1u); i++)
            ok = vmm_vcpu_read_virt(v, at + i * w, &frame[i], w) == 0;
    }
    vmm__err_restore(&saved);
    if (!ok)
        return false;
    memset(x, 0, sizeof *x);
    x->reason = VMM_EXIT_FAULT;
    x->fault.vector = vector;
    x->fault.error_code = err ? (uint32_t)frame[0] : 0;
    x->fault.rip = err ? frame[1] : frame[0];
    x->fault.address = vector == 14 ? s.cr2 : x->fault.rip;
    return true;
}

int vmm__vcpu_run_until(vmm_vcpu *v, vmm_exit *x, uint64_t deadline)
{
    pid_t tid = self_tid();
    memset(x, 0, sizeof *x);
    const struct vmm__hv_ops *hv = v->vm->hv;
    int rc = prepare_thread(v, tid);
    if (rc < 0)
        return rc;
    int expected = 0;
    if (!atomic_compare_exchange_strong(&v->runner, &expected, tid))
        return vmm__err(VMM_EBUSY, "vmm_vcpu_run: vCPU %u is already running", v->index);

    if (deadline && (rc = hv->kick_at(v->hv, tid, deadline)) == 0)
        v->timer_armed = true;
    while (rc == 0) {
        if (atomic_load(&v->kick)) {
            /* Stop between instructions: finish a pending I/O first. */
            if ((rc = complete_pending_io(v)) < 0)
                break;
            atomic_store(&v->kick, false);
            hv->kick_drain(v->hv);
            memset(x, 0, sizeof *x);
            x->reason = VMM_EXIT_KICKED;
            break;
        }
        int r = hv->run(v->hv, x);
        v->io_pending = false;
        if (r == -EINTR || r == -EAGAIN) {
            /* Interrupted by a kick, the budget timer, or another signal; with
             * immediate_exit set KVM has completed any pending I/O first. */
            hv->kick_drain(v->hv);
            if (atomic_load(&v->kick))
                continue; /* reported at the top of the loop */
            if (deadline && vmm__now_ns() >= deadline) {
                memset(x, 0, sizeof *x);
                x->reason = VMM_EXIT_TIMEOUT;
                break;
            }
            continue;
        }
        if (r < 0) {
            rc = vmm__err(VMM_EKVM, "KVM_RUN on vCPU %u: %s", v->index, strerror(-r));
            break;
        }
        if (x->reason == VMM_EXIT_IO && decode_fault(v, x)) {
            v->io_pending = true; /* the stub's OUT completes on the next run */
            break;
        }
        if (x->reason == VMM_EXIT_IO || x->reason == VMM_EXIT_MMIO) {
            if (vmm__dispatch(&v->vm->pio, &v->vm->mmio, x)) {
                /* KVM finishes the instruction on the next KVM_RUN. */
                v->io_pending = true;
                int status;
                if (vmm__dispatch_take_stop(&status)) {
                    memset(x, 0, sizeof *x);
                    x->reason = VMM_EXIT_STATUS;
                    x->status.code = status;
                    break;
                }
                continue;
            }
            /* Unclaimed: the caller answers reads in place before the next run. */
            v->io_pending = true;
            break;
        }
        if (x->reason == VMM_EXIT_KICKED)
            continue;
        if (x->reason == VMM_EXIT_INTERNAL_ERROR || x->reason == VMM_EXIT_FAIL_ENTRY)
            describe_internal_error(v, x);
        break;
    }
    if (v->timer_armed) {
        hv->kick_at(v->hv, tid, 0);
        v->timer_armed = false;
    }
    release_runner(v);
    return rc;
}

int vmm_vcpu_run(vmm_vcpu *v, vmm_exit *x)
{
    if (!v || !x)
        return vmm__err(VMM_EINVAL, "vmm_vcpu_run: NULL argument");
    uint64_t deadline = v->budget_ns ? vmm__now_ns() + v->budget_ns : 0;
    return vmm__vcpu_run_until(v, x, deadline);
}

const char *vmm_exit_reason_name(vmm_exit_reason r)
{
    static const char *const names[] = {
        "NONE",   "HLT",        "IO",          "MMIO",  "SHUTDOWN",
        "DEBUG",  "KICKED",     "TIMEOUT",     "FAULT", "INTERNAL_ERROR",
        "STATUS", "FAIL_ENTRY", "SYSTEM_EVENT"};
    return (unsigned int)r < VMM__ARRAY_LEN(names) ? names[r] : "UNKNOWN";
}

/* ---- guest-virtual access ---- */

static int phys_read(void *ctx, uint64_t gpa, uint64_t *val, size_t size)
{
    *val = 0;
    return vmm__mem_access(ctx, gpa, val, size, false, false);
}

int vmm_vcpu_translate(vmm_vcpu *v, uint64_t gva, int write, int user, uint64_t *gpa)
{
    if (!v || !gpa)
        return vmm__err(VMM_EINVAL, "vmm_vcpu_translate: NULL argument");
    vmm_sregs s;
    int rc = vmm_vcpu_get_sregs(v, &s);
    if (rc < 0)
        return rc;
    struct vmm__paging_state ps = {s.cr0, s.cr3, s.cr4, s.efer};
    return vmm__x86_translate(&ps, gva, write, user, phys_read, v->vm, gpa);
}

static int virt_copy(vmm_vcpu *v, uint64_t gva, uint8_t *buf, size_t len, bool write)
{
    vmm_sregs s;
    int rc = vmm_vcpu_get_sregs(v, &s);
    if (rc < 0)
        return rc;
    struct vmm__paging_state ps = {s.cr0, s.cr3, s.cr4, s.efer};
    /* Translate every page first so a failing write leaves memory untouched. */
    for (int pass = 0; pass < 2; pass++) {
        uint64_t a = gva;
        size_t left = len;
        uint8_t *p = buf;
        while (left) {
            size_t n = VMM_PAGE_SIZE - (a & (VMM_PAGE_SIZE - 1));
            if (n > left)
                n = left;
            uint64_t gpa;
            rc = vmm__x86_translate(&ps, a, write, false, phys_read, v->vm, &gpa);
            if (rc == 0 && pass == 0) {
                pthread_rwlock_rdlock(&v->vm->mem_lock);
                bool ram = vmm__mem_find(v->vm, gpa, n) != NULL;
                pthread_rwlock_unlock(&v->vm->mem_lock);
                if (!ram)
                    rc = vmm__err(VMM_EFAULT, "guest virtual 0x%llx maps to 0x%llx, not RAM",
                                  (unsigned long long)a, (unsigned long long)gpa);
            }
            if (rc == 0 && pass == 1)
                rc = vmm__mem_access(v->vm, gpa, p, n, write, false);
            if (rc < 0)
                return rc;
            a += n;
            p += n;
            left -= n;
        }
    }
    return 0;
}

int vmm_vcpu_read_virt(vmm_vcpu *v, uint64_t gva, void *buf, size_t len)
{
    if (!v || (!buf && len))
        return vmm__err(VMM_EINVAL, "vmm_vcpu_read_virt: NULL argument");
    return virt_copy(v, gva, buf, len, false);
}

int vmm_vcpu_write_virt(vmm_vcpu *v, uint64_t gva, const void *buf, size_t len)
{
    if (!v || (!buf && len))
        return vmm__err(VMM_EINVAL, "vmm_vcpu_write_virt: NULL argument");
    return virt_copy(v, gva, (void *)buf, len, true);
}
