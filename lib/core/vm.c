/* SPDX-License-Identifier: MIT */
/* VM lifecycle and the threaded vmm_vm_run(). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const size_t vm_options_sizes[] = {0, sizeof(vmm_vm_options)};
static const size_t run_options_sizes[] = {0, sizeof(vmm_run_options)};

int vmm_vm_options_init(vmm_vm_options *opts, unsigned int version)
{
    static const vmm_vm_options defaults = VMM_VM_OPTIONS_INIT;
    return vmm__options_init(opts, version, &defaults, vm_options_sizes, VMM_VM_OPTIONS_VERSION,
                             "vmm_vm_options_init");
}

int vmm_run_options_init(vmm_run_options *opts, unsigned int version)
{
    static const vmm_run_options defaults = VMM_RUN_OPTIONS_INIT;
    return vmm__options_init(opts, version, &defaults, run_options_sizes, VMM_RUN_OPTIONS_VERSION,
                             "vmm_run_options_init");
}

int vmm_vm_create(vmm_vm **out, const vmm_vm_options *opts)
{
    if (!out)
        return vmm__err(VMM_EINVAL, "vmm_vm_create: out is NULL");
    *out = NULL;
    vmm_vm_options o = VMM_VM_OPTIONS_INIT;
    int rc = 0;
    if (opts && (rc = vmm__options_copy(&o, sizeof o, opts, vm_options_sizes,
                                        VMM_VM_OPTIONS_VERSION, "vmm_vm_options")) < 0)
        return rc;
    if (o.flags & ~(VMM_VM_IRQCHIP | VMM_VM_PIT))
        return vmm__err(VMM_EINVAL, "vmm_vm_create: unknown flags 0x%x", o.flags);
    if (o.flags & VMM_VM_PIT)
        o.flags |= VMM_VM_IRQCHIP;

    vmm_vm *vm = calloc(1, sizeof *vm);
    if (!vm)
        return vmm__err(VMM_ENOMEM, "vmm_vm_create: out of memory");
    vm->hv = vmm__hv_default();
    vm->flags = o.flags;
    vm->memory_limit = o.memory_limit;
    pthread_rwlock_init(&vm->mem_lock, NULL);
    pthread_mutex_init(&vm->pause_lock, NULL);
    pthread_cond_init(&vm->pause_cond, NULL);
    pthread_cond_init(&vm->parked_cond, NULL);
    vm->sched = (vmm_sched)VMM_SCHED_INIT;
    vm->snap_shadow = -1;

    if ((rc = vm->hv->vm_create(vm->flags & VMM_VM_IRQCHIP, vm->flags & VMM_VM_PIT, &vm->hvm)) < 0)
        goto fail;
    const struct vmm__hv_caps *caps = vm->hv->vm_caps(vm->hvm);
    vm->cap_readonly_mem = caps->readonly_mem;
    vm->cap_irqfd = caps->irqfd;
    vm->cap_ioeventfd = caps->ioeventfd;
    vm->max_vcpus = caps->max_vcpus;
    if (vm->max_vcpus > VMM__MAX_VCPUS)
        vm->max_vcpus = VMM__MAX_VCPUS;
    *out = vm;
    return 0;
fail:
    vmm_vm_destroy(vm);
    return rc;
}

void vmm_vm_destroy(vmm_vm *vm)
{
    if (!vm)
        return;
    for (unsigned int i = 0; i < VMM__MAX_VCPUS; i++)
        vmm__vcpu_free(vm->vcpus[i]);
    vmm_device *d = vm->devices;
    while (d) {
        vmm_device *next = d->next;
        vmm__device_free(d);
        d = next;
    }
    vmm__bus_free(&vm->pio);
    vmm__bus_free(&vm->mmio);
    /* Destroy the backend's VM before unmapping its memory, so that the
     * hypervisor drops its references first. */
    vm->hv->vm_destroy(vm->hvm);
    vmm__mem_free_all(vm);
    pthread_rwlock_destroy(&vm->mem_lock);
    pthread_mutex_destroy(&vm->pause_lock);
    pthread_cond_destroy(&vm->pause_cond);
    pthread_cond_destroy(&vm->parked_cond);
    free(vm);
}

/* Whether some thread is inside vmm_vcpu_run() (or settling) on a vCPU. */
static bool any_runner(const vmm_vm *vm)
{
    for (unsigned int i = 0; i < VMM__MAX_VCPUS; i++)
        if (vm->vcpus[i] && atomic_load(&vm->vcpus[i]->runner))
            return true;
    return false;
}

bool vmm__vm_busy(const vmm_vm *vm)
{
    return atomic_load(&((vmm_vm *)vm)->in_run) || any_runner(vm);
}

bool vmm__vm_quiescent(vmm_vm *vm)
{
    if (any_runner(vm))
        return false;
    if (!atomic_load(&vm->in_run))
        return true;
    pthread_mutex_lock(&vm->pause_lock);
    bool parked = atomic_load(&vm->paused) && vm->parked == vm->run_threads;
    pthread_mutex_unlock(&vm->pause_lock);
    return parked;
}

unsigned int vmm_vm_vcpu_count(const vmm_vm *vm)
{
    return vm ? vm->nvcpus : 0;
}

vmm_vcpu *vmm_vm_vcpu(vmm_vm *vm, unsigned int index)
{
    return vm && index < VMM__MAX_VCPUS ? vm->vcpus[index] : NULL;
}

int vmm_vm_stop(vmm_vm *vm)
{
    if (!vm)
        return vmm__err(VMM_EINVAL, "vmm_vm_stop: vm is NULL");
    atomic_store(&vm->stop, true);
    pthread_mutex_lock(&vm->pause_lock);
    pthread_cond_broadcast(&vm->pause_cond);
    pthread_cond_broadcast(&vm->parked_cond);
    pthread_mutex_unlock(&vm->pause_lock);
    for (unsigned int i = 0; i < VMM__MAX_VCPUS; i++)
        if (vm->vcpus[i])
            vmm_vcpu_kick(vm->vcpus[i]);
    return 0;
}

static _Thread_local bool in_run_thread;

int vmm_vm_pause(vmm_vm *vm)
{
    if (!vm)
        return vmm__err(VMM_EINVAL, "vmm_vm_pause: vm is NULL");
    if (!atomic_load(&vm->in_run))
        return vmm__err(VMM_ESTATE, "vmm_vm_pause: the VM is not running");
    atomic_store(&vm->paused, true);
    for (unsigned int i = 0; i < VMM__MAX_VCPUS; i++)
        if (vm->vcpus[i])
            vmm_vcpu_kick(vm->vcpus[i]);
    /* Wait until every vCPU thread has left the guest and parked, so the caller
     * may read registers at once. A vCPU thread itself (an exit or device
     * callback) cannot wait for itself. */
    if (!in_run_thread) {
        pthread_mutex_lock(&vm->pause_lock);
        while (atomic_load(&vm->paused) && !atomic_load(&vm->stop) && vm->parked < vm->run_threads)
            pthread_cond_wait(&vm->parked_cond, &vm->pause_lock);
        pthread_mutex_unlock(&vm->pause_lock);
    }
    return 0;
}

int vmm_vm_resume(vmm_vm *vm)
{
    if (!vm)
        return vmm__err(VMM_EINVAL, "vmm_vm_resume: vm is NULL");
    pthread_mutex_lock(&vm->pause_lock);
    bool was = atomic_exchange(&vm->paused, false);
    pthread_cond_broadcast(&vm->pause_cond);
    pthread_mutex_unlock(&vm->pause_lock);
    if (!was)
        return vmm__err(VMM_ESTATE, "vmm_vm_resume: the VM is not paused");
    return 0;
}

vmm_vm_state vmm_vm_get_state(const vmm_vm *vm)
{
    if (!vm || !atomic_load(&((vmm_vm *)vm)->in_run))
        return VMM_VM_IDLE;
    return atomic_load(&((vmm_vm *)vm)->paused) ? VMM_VM_PAUSED : VMM_VM_RUNNING;
}

static const size_t sched_sizes[] = {0, sizeof(vmm_sched)};

int vmm_vm_set_sched(vmm_vm *vm, const vmm_sched *sched)
{
    if (!vm || !sched)
        return vmm__err(VMM_EINVAL, "vmm_vm_set_sched: NULL argument");
    vmm_sched s = VMM_SCHED_INIT;
    int rc = vmm__options_copy(&s, sizeof s, sched, sched_sizes, VMM_SCHED_VERSION, "vmm_sched");
    if (rc < 0)
        return rc;
    if (s.weight < 1 || s.weight > 65535)
        return vmm__err(VMM_EINVAL, "vmm_vm_set_sched: weight %u not in 1..65535", s.weight);
    if (s.cap > 100)
        return vmm__err(VMM_EINVAL, "vmm_vm_set_sched: cap %u not in 0..100", s.cap);
    if (s.affinity) {
        cpu_set_t online;
        CPU_ZERO(&online);
        if (sched_getaffinity(0, sizeof online, &online) == 0) {
            bool any = false;
            for (int c = 0; c < 64; c++)
                any = any || ((s.affinity >> c & 1) && CPU_ISSET(c, &online));
            if (!any)
                return vmm__err(VMM_EINVAL,
                                "vmm_vm_set_sched: affinity 0x%llx names no CPU this process "
                                "may use",
                                (unsigned long long)s.affinity);
        }
    }
    if (atomic_load(&vm->in_run))
        return vmm__err(VMM_EBUSY, "vmm_vm_set_sched: the VM is running");
    vm->sched = s;
    return 0;
}

/* Xen weight -> nice: CFS gives each nice step a factor of about 1.25 in share. */
static int weight_to_nice(unsigned int weight)
{
    double n = -log((double)weight / 256.0) / log(1.25);
    long r = lround(n);
    return r < -20 ? -20 : r > 19 ? 19 : (int)r;
}

/* Apply vm->sched to the calling vCPU thread. */
static int apply_sched(const vmm_vm *vm)
{
    const vmm_sched *s = &vm->sched;
    if (s->affinity) {
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int c = 0; c < 64; c++)
            if (s->affinity >> c & 1)
                CPU_SET(c, &set);
        int e = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
        if (e)
            return vmm__err(VMM_EINVAL, "affinity 0x%llx: %s", (unsigned long long)s->affinity,
                            strerror(e));
    }
    if (s->weight != 256) {
        int nice = weight_to_nice(s->weight);
        /* PRIO_PROCESS with a thread id sets that thread's nice value on Linux. */
        if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice) < 0) {
            int e = errno;
            return vmm__err(e == EACCES || e == EPERM ? VMM_EPERM : VMM_EINVAL,
                            "weight %u (nice %d): %s", s->weight, nice, strerror(e));
        }
    }
    return 0;
}

/* ---- vmm_vm_run ---- */

struct run_shared {
    vmm_vm *vm;
    const vmm_run_options *opts;
    uint64_t deadline;
    pthread_mutex_t lock;
    bool done;           /* a terminating exit was recorded */
    unsigned int halted; /* vCPUs that halted */
    unsigned int nthreads;
    vmm_run_result result;
    int error; /* a failing vmm_vcpu_run */
    char error_msg[256];
    struct vmm__ratelimit unclaimed_rl; /* warnings about unclaimed accesses */
};

struct run_thread {
    struct run_shared *sh;
    vmm_vcpu *vcpu;
    pthread_t thread;
};

static void finish(struct run_shared *sh, vmm_vcpu *v, const vmm_exit *x, vmm_exit_reason why,
                   int status)
{
    pthread_mutex_lock(&sh->lock);
    bool first = !sh->done;
    if (first) {
        sh->done = true;
        sh->result.reason = why;
        sh->result.status = status;
        sh->result.vcpu = v->index;
        sh->result.exit = *x;
        sh->result.exit.io.data = NULL;
        sh->result.exit.mmio.data = NULL;
    }
    pthread_mutex_unlock(&sh->lock);
    if (first) /* stop the other vCPUs */
        for (unsigned int i = 0; i < VMM__MAX_VCPUS; i++)
            if (sh->vm->vcpus[i] && sh->vm->vcpus[i] != v)
                vmm_vcpu_kick(sh->vm->vcpus[i]);
}

/* While the VM is paused: park (counted, so vmm_vm_pause() can wait for all). */
static void park(vmm_vm *vm)
{
    pthread_mutex_lock(&vm->pause_lock);
    vm->parked++;
    pthread_cond_broadcast(&vm->parked_cond);
    while (atomic_load(&vm->paused) && !atomic_load(&vm->stop))
        pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
    vm->parked--;
    pthread_mutex_unlock(&vm->pause_lock);
}

/* With a CPU cap the vCPU runs for cap% of each 10 ms period (a duty cycle):
 * the deadline of this run (the earlier of the run's and the slice's end;
 * *sliced when the slice's), or 0 after sleeping out a used-up period. */
#define CAP_PERIOD 10000000ull
static bool cap_slice(vmm_vm *vm, uint64_t *period_start, uint64_t *deadline, bool *sliced)
{
    *sliced = false;
    if (!vm->sched.cap)
        return true;
    uint64_t now = vmm__now_ns();
    while (now >= *period_start + CAP_PERIOD)
        *period_start += CAP_PERIOD;
    uint64_t slice_end = *period_start + CAP_PERIOD * vm->sched.cap / 100;
    if (now >= slice_end) { /* this period's share is used up */
        struct timespec ts = {0, (long)(*period_start + CAP_PERIOD - now)};
        nanosleep(&ts, NULL);
        return false;
    }
    if (!*deadline || slice_end < *deadline) {
        *deadline = slice_end;
        *sliced = true;
    }
    return true;
}

/* An unclaimed access with no on_exit callback: reads see all ones, and a
 * warning is logged (rate-limited across the VM's threads). */
static void unclaimed(struct run_shared *sh, vmm_vcpu *v, vmm_exit *x)
{
    bool io = x->reason == VMM_EXIT_IO;
    bool wr = io ? x->io.is_write : x->mmio.is_write;
    if (!wr) {
        size_t n = io ? (size_t)x->io.size * x->io.count : x->mmio.size;
        memset(io ? x->io.data : x->mmio.data, 0xff, n);
    }
    uint64_t supp;
    pthread_mutex_lock(&sh->lock);
    bool ok = vmm__ratelimit_ok(&sh->unclaimed_rl, &supp);
    pthread_mutex_unlock(&sh->lock);
    if (ok)
        vmm__log(VMM_LOG_WARN, "vm", "vCPU %u: unclaimed %s %s at 0x%llx", v->index,
                 io ? "port" : "MMIO", wr ? "write" : "read",
                 (unsigned long long)(io ? x->io.port : x->mmio.addr));
}

/* A failed vCPU run ends the VM's run with its error. */
static void run_failed(struct run_shared *sh, vmm_vcpu *v, int rc, const vmm_exit *x)
{
    pthread_mutex_lock(&sh->lock);
    if (!sh->error) {
        sh->error = rc;
        snprintf(sh->error_msg, sizeof sh->error_msg, "vCPU %u: %s", v->index,
                 vmm_error_last()->message);
    }
    pthread_mutex_unlock(&sh->lock);
    finish(sh, v, x, VMM_EXIT_INTERNAL_ERROR, 0);
}

/* What an exit means for the VM's run: true to run the vCPU again. */
static bool handle_exit(struct run_shared *sh, vmm_vcpu *v, vmm_exit *x)
{
    if (x->reason == VMM_EXIT_IO || x->reason == VMM_EXIT_MMIO) {
        int st = 0;
        if (sh->opts->on_exit)
            st = sh->opts->on_exit(sh->opts->opaque, v, x);
        else
            unclaimed(sh, v, x);
        if (st)
            finish(sh, v, x, VMM_EXIT_STATUS, st);
        return st == 0;
    }
    if (x->reason == VMM_EXIT_HLT) {
        pthread_mutex_lock(&sh->lock);
        bool all = ++sh->halted == sh->nthreads;
        pthread_mutex_unlock(&sh->lock);
        if (all)
            finish(sh, v, x, VMM_EXIT_HLT, 0);
        return false;
    }
    if (x->reason == VMM_EXIT_KICKED && !atomic_load(&sh->vm->stop)) {
        pthread_mutex_lock(&sh->lock);
        bool done = sh->done;
        pthread_mutex_unlock(&sh->lock);
        return !done; /* a pause, or a stray kick from the embedder: keep going */
    }
    finish(sh, v, x, x->reason, x->reason == VMM_EXIT_STATUS ? x->status.code : 0);
    return false;
}

static void *run_thread(void *arg)
{
    struct run_thread *t = arg;
    struct run_shared *sh = t->sh;
    vmm_vcpu *v = t->vcpu;
    vmm_vm *vm = sh->vm;
    vmm_exit x;
    memset(&x, 0, sizeof x);
    in_run_thread = true;
    int rc = apply_sched(vm);
    uint64_t period_start = vmm__now_ns();
    for (;;) {
        if (rc == 0 && atomic_load(&vm->paused) && !atomic_load(&vm->stop)) {
            park(vm);
            period_start = vmm__now_ns();
        }
        if (rc == 0 && atomic_load(&vm->stop)) {
            memset(&x, 0, sizeof x);
            x.reason = VMM_EXIT_KICKED;
            finish(sh, v, &x, VMM_EXIT_KICKED, 0);
            break;
        }
        uint64_t deadline = sh->deadline;
        bool sliced = false;
        if (rc == 0 && !cap_slice(vm, &period_start, &deadline, &sliced))
            continue;
        if (rc == 0)
            rc = vmm__vcpu_run_until(v, &x, deadline);
        if (rc == 0 && sliced && x.reason == VMM_EXIT_TIMEOUT)
            continue; /* the slice ended, not the run */
        if (rc < 0) {
            run_failed(sh, v, rc, &x);
            break;
        }
        if (!handle_exit(sh, v, &x))
            break;
    }
    /* A thread that ended no longer holds a pause back. */
    pthread_mutex_lock(&vm->pause_lock);
    vm->run_threads--;
    pthread_cond_broadcast(&vm->parked_cond);
    pthread_mutex_unlock(&vm->pause_lock);
    return NULL;
}

int vmm_vm_run(vmm_vm *vm, const vmm_run_options *opts, vmm_run_result *res)
{
    if (!vm || !res)
        return vmm__err(VMM_EINVAL, "vmm_vm_run: NULL argument");
    vmm_run_options o = VMM_RUN_OPTIONS_INIT;
    int rc = 0;
    if (opts && (rc = vmm__options_copy(&o, sizeof o, opts, run_options_sizes,
                                        VMM_RUN_OPTIONS_VERSION, "vmm_run_options")) < 0)
        return rc;
    if (vm->nvcpus == 0)
        return vmm__err(VMM_ESTATE, "vmm_vm_run: the VM has no vCPU");
    bool expected = false;
    if (!atomic_compare_exchange_strong(&vm->in_run, &expected, true))
        return vmm__err(VMM_ESTATE, "vmm_vm_run: already running");

    struct run_shared sh = {.vm = vm, .opts = &o};
    pthread_mutex_init(&sh.lock, NULL);
    sh.deadline = o.time_budget_ns ? vmm__now_ns() + o.time_budget_ns : 0;
    struct run_thread *th = calloc(vm->nvcpus, sizeof *th);
    if (!th) {
        atomic_store(&vm->in_run, false);
        pthread_mutex_destroy(&sh.lock);
        return vmm__err(VMM_ENOMEM, "vmm_vm_run: out of memory");
    }
    unsigned int started = 0;
    sh.nthreads = vm->nvcpus;
    for (unsigned int i = 0; i < VMM__MAX_VCPUS && started < vm->nvcpus; i++) {
        if (!vm->vcpus[i])
            continue;
        th[started] = (struct run_thread){&sh, vm->vcpus[i], 0};
        pthread_mutex_lock(&vm->pause_lock);
        vm->run_threads++;
        pthread_mutex_unlock(&vm->pause_lock);
        int e = pthread_create(&th[started].thread, NULL, run_thread, &th[started]);
        if (e) {
            pthread_mutex_lock(&vm->pause_lock);
            vm->run_threads--;
            pthread_mutex_unlock(&vm->pause_lock);
            rc = vmm__err(VMM_ENOMEM, "vmm_vm_run: pthread_create: %s", strerror(e));
            pthread_mutex_lock(&sh.lock);
            sh.nthreads = started;
            pthread_mutex_unlock(&sh.lock);
            vmm_vm_stop(vm);
            break;
        }
        started++;
    }
    for (unsigned int i = 0; i < started; i++)
        pthread_join(th[i].thread, NULL);
    free(th);
    /* Kicks sent to end this run must not end the caller's next vmm_vcpu_run(). */
    for (unsigned int i = 0; i < VMM__MAX_VCPUS; i++)
        if (vm->vcpus[i])
            atomic_store(&vm->vcpus[i]->kick, false);
    atomic_store(&vm->stop, false);
    atomic_store(&vm->paused, false);
    atomic_store(&vm->in_run, false);
    if (rc == 0 && sh.error)
        rc = vmm__err(sh.error, "vmm_vm_run: %s", sh.error_msg);
    if (rc == 0)
        *res = sh.result;
    pthread_mutex_destroy(&sh.lock);
    return rc;
}
