/* SPDX-License-Identifier: MIT */
/* The KVM backend's vCPUs: their descriptors and run areas, KVM_RUN, and how
 * a run is cut short. A kick is a real-time signal sent to the runner
 * thread: the thread blocks it, and KVM_SET_SIGNAL_MASK unblocks it only
 * inside KVM_RUN, so a kick that lands outside stays pending and makes the
 * next KVM_RUN return -EINTR at once, and one that lands inside interrupts
 * it. The time budget's timer sends the same signal. */
#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../core/util.h"
#include "kvm.h"

#define KICK_SIGNAL (SIGRTMAX - 1)

static _Thread_local bool kick_blocked;

int vmm__kvm_vcpu_create(struct vmm__hv_vm *vm, unsigned int index, struct vmm__hv_vcpu **out)
{
    *out = NULL;
    struct vmm__hv_vcpu *v = calloc(1, sizeof *v);
    if (!v)
        return vmm__err(VMM_ENOMEM, "vCPU %u: out of memory", index);
    v->vm = vm;
    int fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
    if (fd < 0) {
        int e = errno;
        free(v);
        errno = e;
        if (e == EEXIST)
            return vmm__err(VMM_EEXIST, "KVM_CREATE_VCPU %u: index in use", index);
        return vmm__kvm_fail("KVM_CREATE_VCPU");
    }
    void *run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED) {
        int e = errno;
        close(fd);
        free(v);
        return vmm__err(VMM_ENOMEM, "mmap vCPU %u run area: %s", index, strerror(e));
    }
    v->fd = fd;
    v->run = run;
    v->run_size = (size_t)vm->run_size;
    /* The vCPU's XSAVE size is settled at its creation (arch_prctl permissions
     * freeze then); KVM_SET_XSAVE reads this many bytes. */
    int x2 = vmm__kvm_check_extension(vm->vm_fd, KVM_CAP_XSAVE2);
    v->xsave_size =
        x2 > (int)sizeof(struct kvm_xsave) ? (uint32_t)x2 : (uint32_t)sizeof(struct kvm_xsave);
    int sync = vmm__kvm_check_extension(vm->vm_fd, KVM_CAP_SYNC_REGS);
    v->sync_regs = sync > 0 && (sync & KVM_SYNC_X86_REGS);
    v->run->kvm_valid_regs = v->sync_regs ? KVM_SYNC_X86_REGS : 0;
    *out = v;
    return 0;
}

void vmm__kvm_vcpu_destroy(struct vmm__hv_vcpu *v)
{
    if (!v)
        return;
    if (v->timer_tid)
        timer_delete(v->timer);
    if (v->run)
        munmap(v->run, v->run_size);
    if (v->fd >= 0)
        close(v->fd);
    free(v);
}

int vmm__kvm_run(struct vmm__hv_vcpu *v, vmm_exit *x)
{
    v->regs_synced = false;
    if (ioctl(v->fd, KVM_RUN, 0) < 0)
        return -errno;
    v->regs_synced = v->sync_regs;
    vmm__kvm_exit_decode(v->run, x);
    return 0;
}

static void set_immediate_exit(struct vmm__hv_vcpu *v, bool on)
{
    __atomic_store_n(&v->run->immediate_exit, on ? 1 : 0, __ATOMIC_SEQ_CST);
}

/* KVM_RUN with immediate_exit completes the I/O KVM waits to finish and
 * returns -EINTR without running guest code (KVM API, "KVM_RUN"). */
int vmm__kvm_complete_io(struct vmm__hv_vcpu *v)
{
    set_immediate_exit(v, true);
    v->regs_synced = false;
    int r = ioctl(v->fd, KVM_RUN, 0) < 0 ? -errno : 0;
    set_immediate_exit(v, false);
    if (r == 0)
        return 1; /* it ran on: a string instruction wants more I/O */
    return r == -EINTR || r == -EAGAIN ? 0 : r;
}

int vmm__kvm_run_thread(struct vmm__hv_vcpu *v, pid_t tid)
{
    /* Blocked before the thread can be kicked: an unblocked real-time signal
     * without a handler would end the process. */
    if (!kick_blocked) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, KICK_SIGNAL);
        if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
            return vmm__err(VMM_EINVAL, "vmm_vcpu_run: cannot block the kick signal");
        kick_blocked = true;
    }
    if (!v || v->sigmask_tid == tid)
        return 0;
    /* Inside KVM_RUN: the thread's own mask minus the kick signal. */
    sigset_t set;
    pthread_sigmask(SIG_BLOCK, NULL, &set);
    sigdelset(&set, KICK_SIGNAL);
    struct {
        struct kvm_signal_mask m;
        uint8_t set[8];
    } sm;
    sm.m.len = 8; /* the kernel's sigset_t size on x86-64 */
    memcpy(sm.set, &set, 8);
    if (ioctl(v->fd, KVM_SET_SIGNAL_MASK, &sm) < 0)
        return vmm__kvm_fail("KVM_SET_SIGNAL_MASK");
    v->sigmask_tid = tid;
    return 0;
}

void vmm__kvm_kick(struct vmm__hv_vcpu *v, pid_t tid)
{
    (void)v;
    syscall(SYS_tgkill, getpid(), tid, KICK_SIGNAL);
}

void vmm__kvm_kick_drain(struct vmm__hv_vcpu *v)
{
    (void)v;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, KICK_SIGNAL);
    struct timespec zero = {0, 0};
    while (sigtimedwait(&set, NULL, &zero) > 0)
        ;
}

int vmm__kvm_kick_at(struct vmm__hv_vcpu *v, pid_t tid, uint64_t deadline)
{
    if (!deadline) {
        struct itimerspec its = {{0, 0}, {0, 0}};
        if (v->timer_tid)
            timer_settime(v->timer, 0, &its, NULL);
        return 0;
    }
    if (v->timer_tid != tid) {
        if (v->timer_tid)
            timer_delete(v->timer);
        v->timer_tid = 0;
        struct sigevent sev;
        memset(&sev, 0, sizeof sev);
        sev.sigev_notify = SIGEV_THREAD_ID;
        sev.sigev_signo = KICK_SIGNAL;
        sev._sigev_un._tid = tid;
        if (timer_create(CLOCK_MONOTONIC, &sev, &v->timer) < 0)
            return vmm__err(VMM_ENOMEM, "vmm_vcpu_run: timer_create: %s", strerror(errno));
        v->timer_tid = tid;
    }
    struct itimerspec its = {
        {0, 0}, {(time_t)(deadline / 1000000000ull), (long)(deadline % 1000000000ull)}};
    if (timer_settime(v->timer, TIMER_ABSTIME, &its, NULL) < 0)
        return vmm__err(VMM_EINVAL, "vmm_vcpu_run: timer_settime: %s", strerror(errno));
    return 0;
}
