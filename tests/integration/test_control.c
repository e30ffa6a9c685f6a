/* SPDX-License-Identifier: MIT */
/* Kicks from other threads, time budgets, vmm_vm_run/vmm_vm_stop, two VMs at once. */
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>

#include "kvm_test.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct kicker {
    vmm_vcpu *vcpu;
    vmm_vm *vm; /* when set, vmm_vm_stop instead of a kick */
    unsigned int delay_ms;
};

static void *kick_later(void *arg)
{
    struct kicker *k = arg;
    struct timespec d = {0, (long)k->delay_ms * 1000000L};
    nanosleep(&d, NULL);
    if (k->vm)
        vmm_vm_stop(k->vm);
    else
        vmm_vcpu_kick(k->vcpu);
    return NULL;
}

/* A CPL3 spin loop never exits on its own; a kick from another thread ends the run. */
static void test_kick_from_thread(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "spin_cpl3", VMM_X86_LONG, 3);
    for (int round = 0; round < 3; round++) {
        struct kicker k = {t.vcpu, NULL, 50};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, kick_later, &k), 0);
        vmm_exit x = tvm_run(&t);
        pthread_join(th, NULL);
        assert_int_equal(x.reason, VMM_EXIT_KICKED);
        /* The guest really ran: its counter register advanced. */
        vmm_regs r;
        assert_int_equal(vmm_vcpu_get_regs(t.vcpu, &r), 0);
        assert_true(r.rax > 0);
    }
    /* A kick while not running makes the next run return at once. */
    assert_int_equal(vmm_vcpu_kick(t.vcpu), 0);
    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_KICKED);
    tvm_stop(&t);
}

/* A time budget stops a guest that never exits with TIMEOUT; it can be resumed. */
static void test_time_budget(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "spin_cpl3", VMM_X86_LONG, 3);
    assert_int_equal(vmm_vcpu_set_time_budget(t.vcpu, 100 * 1000000ull), 0);
    uint64_t t0 = now_ns();
    vmm_exit x = tvm_run(&t);
    uint64_t el = now_ns() - t0;
    assert_int_equal(x.reason, VMM_EXIT_TIMEOUT);
    assert_true(el >= 100 * 1000000ull); /* never before the budget */
    vmm_regs r1, r2;
    assert_int_equal(vmm_vcpu_get_regs(t.vcpu, &r1), 0);
    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_TIMEOUT);
    assert_int_equal(vmm_vcpu_get_regs(t.vcpu, &r2), 0);
    assert_true(r2.rax > r1.rax); /* resumed where it stopped */
    /* Budget removed: a kick is now the only way out. */
    assert_int_equal(vmm_vcpu_set_time_budget(t.vcpu, 0), 0);
    struct kicker k = {t.vcpu, NULL, 50};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, kick_later, &k), 0);
    x = tvm_run(&t);
    pthread_join(th, NULL);
    assert_int_equal(x.reason, VMM_EXIT_KICKED);
    tvm_stop(&t);
}

/* vmm_vm_run ends with the guest's debug-exit status. */
static void test_vm_run_status(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "hello_long", VMM_X86_LONG, 0);
    vmm_run_result res;
    assert_int_equal(vmm_vm_run(t.vm, NULL, &res), 0);
    assert_int_equal(res.reason, VMM_EXIT_STATUS);
    assert_int_equal(res.status, 0x40);
    assert_string_equal(t.out.data, "Hello from long mode\n");
    tvm_stop(&t);
}

/* vmm_vm_run ends with HLT when every vCPU halts (no irqchip). */
static void test_vm_run_halt(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, NULL, VMM_X86_LONG, 0);
    static const uint8_t hlt[] = {0xf4};
    assert_int_equal(vmm_mem_write(t.vm, GUEST_LOAD, hlt, 1), 0);
    vmm_run_result res;
    assert_int_equal(vmm_vm_run(t.vm, NULL, &res), 0);
    assert_int_equal(res.reason, VMM_EXIT_HLT);
    tvm_stop(&t);
}

/* vmm_vm_stop from another thread, and the run's own time budget. */
static void test_vm_run_stop_and_budget(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "spin_cpl3", VMM_X86_LONG, 3);
    struct kicker k = {NULL, t.vm, 50};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, kick_later, &k), 0);
    vmm_run_result res;
    assert_int_equal(vmm_vm_run(t.vm, NULL, &res), 0);
    pthread_join(th, NULL);
    assert_int_equal(res.reason, VMM_EXIT_KICKED);

    vmm_run_options o = VMM_RUN_OPTIONS_INIT;
    o.time_budget_ns = 100 * 1000000ull;
    assert_int_equal(vmm_vm_run(t.vm, &o, &res), 0);
    assert_int_equal(res.reason, VMM_EXIT_TIMEOUT);

    /* The stop's kicks do not leak into a later vmm_vcpu_run. */
    assert_int_equal(vmm_vcpu_set_time_budget(t.vcpu, 20 * 1000000ull), 0);
    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_TIMEOUT);
    tvm_stop(&t);
}

static int answer_unclaimed(void *opaque, vmm_vcpu *vcpu, vmm_exit *x)
{
    int *count = opaque;
    (void)vcpu;
    (*count)++;
    if (x->reason == VMM_EXIT_IO && !x->io.is_write)
        memset(x->io.data, 0x11, (size_t)x->io.size * x->io.count);
    if (x->reason == VMM_EXIT_MMIO && !x->mmio.is_write)
        memset(x->mmio.data, 0x22, x->mmio.size);
    return 0;
}

/* vmm_vm_run hands unclaimed exits to on_exit and resumes the guest. */
static void test_vm_run_on_exit(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "unclaimed", VMM_X86_LONG, 0);
    int count = 0;
    vmm_run_options o = VMM_RUN_OPTIONS_INIT;
    o.on_exit = answer_unclaimed;
    o.opaque = &count;
    vmm_run_result res;
    assert_int_equal(vmm_vm_run(t.vm, &o, &res), 0);
    assert_int_equal(res.reason, VMM_EXIT_STATUS);
    assert_int_equal(res.status, 0x99);
    assert_true(count >= 7); /* 2 IO + 4 MMIO + at least one string-I/O exit */
    tvm_stop(&t);
}

/* Two VMs in one process, run at the same time on two threads, keep their
 * memory and devices apart. */
struct vm_thread {
    struct tvm t;
    const char *guest;
    vmm_x86_mode mode;
    vmm_run_result res;
    int rc;
};

static void *run_vm_thread(void *arg)
{
    struct vm_thread *v = arg;
    v->rc = vmm_vm_run(v->t.vm, NULL, &v->res);
    return NULL;
}

static void test_two_vms(void **state)
{
    (void)state;
    struct vm_thread a = {.guest = "hello_long", .mode = VMM_X86_LONG};
    struct vm_thread b = {.guest = "hello_prot", .mode = VMM_X86_PROTECTED};
    tvm_start(&a.t, a.guest, a.mode, 0);
    tvm_start(&b.t, b.guest, b.mode, 0);
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, run_vm_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, run_vm_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.rc, 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(a.res.status, 0x40);
    assert_int_equal(b.res.status, 0x20);
    assert_string_equal(a.t.out.data, "Hello from long mode\n");
    assert_string_equal(b.t.out.data, "Hello from protected mode\n");
    /* Memory is separate: a write into one VM is not seen by the other. */
    uint32_t v = 0xabcdef01, r = 0;
    assert_int_equal(vmm_mem_write(a.t.vm, 0x100000, &v, 4), 0);
    assert_int_equal(vmm_mem_read(b.t.vm, 0x100000, &r, 4), 0);
    assert_int_equal(r, 0);
    tvm_stop(&a.t);
    tvm_stop(&b.t);
}

/* Two vCPUs in one VM under vmm_vm_run: both halt. */
static void test_two_vcpus_halt(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, NULL, VMM_X86_LONG, 0);
    static const uint8_t hlt[] = {0xf4};
    assert_int_equal(vmm_mem_write(t.vm, GUEST_LOAD, hlt, 1), 0);
    vmm_vcpu *v1, *dup;
    assert_int_equal(vmm_vcpu_create(&v1, t.vm, 1), 0);
    assert_int_equal(vmm_vcpu_create(&dup, t.vm, 1), VMM_EEXIST);
    assert_null(dup);
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.entry = GUEST_LOAD;
    assert_int_equal(vmm_x86_setup(v1, &o), 0);
    assert_int_equal(vmm_vm_vcpu_count(t.vm), 2);
    vmm_run_result res;
    assert_int_equal(vmm_vm_run(t.vm, NULL, &res), 0);
    assert_int_equal(res.reason, VMM_EXIT_HLT);
    tvm_stop(&t);
}

/* Creating and destroying many VMs leaks no file descriptors. */
static void test_no_fd_leak(void **state)
{
    (void)state;
    int before = count_open_fds();
    for (int i = 0; i < 20; i++) {
        struct tvm t;
        tvm_start(&t, "hello_long", VMM_X86_LONG, 0);
        vmm_vcpu_set_time_budget(t.vcpu, 1000000000ull); /* creates the timer */
        vmm_exit x = tvm_run(&t);
        assert_int_equal(x.reason, VMM_EXIT_STATUS);
        tvm_stop(&t);
    }
    assert_int_equal(count_open_fds(), before);
}

struct hammer {
    vmm_vcpu *vcpu;
    volatile int stop;
    unsigned long kicks;
};

static void *kick_forever(void *arg)
{
    struct hammer *h = arg;
    while (!h->stop) {
        vmm_vcpu_kick(h->vcpu);
        h->kicks++;
    }
    return NULL;
}

static void *run_once(void *arg)
{
    vmm_vcpu *v = arg;
    vmm_exit x;
    vmm_vcpu_run(v, &x);
    return NULL;
}

/* Kicks arriving while fresh threads start running the vCPU must never reach a
 * thread that has not blocked the kick signal yet (that would end the process),
 * and must not leave the vCPU unable to enter the guest afterwards. */
static void test_kick_race(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "spin_cpl3", VMM_X86_LONG, 3);
    assert_int_equal(vmm_vcpu_set_time_budget(t.vcpu, 2000000ull), 0);
    struct hammer h = {t.vcpu, 0, 0};
    pthread_t kicker;
    assert_int_equal(pthread_create(&kicker, NULL, kick_forever, &h), 0);
    /* At least 1.5 s and 11 threads; a loaded machine gets up to 20 s to
     * reach the thread count. */
    uint64_t start = now_ns(), end = start + 1500000000ull, limit = start + 20000000000ull;
    unsigned int threads = 0;
    while ((now_ns() < end || threads <= 10) && now_ns() < limit) {
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, run_once, t.vcpu), 0);
        pthread_join(th, NULL);
        threads++;
    }
    h.stop = 1;
    pthread_join(kicker, NULL);
    assert_true(threads > 10 && h.kicks > 0);
    /* The guest still runs: consume any leftover kick, then make progress. */
    vmm_exit x = tvm_run(&t);
    vmm_regs r1, r2;
    assert_int_equal(vmm_vcpu_get_regs(t.vcpu, &r1), 0);
    assert_int_equal(vmm_vcpu_set_time_budget(t.vcpu, 50000000ull), 0);
    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_TIMEOUT);
    assert_int_equal(vmm_vcpu_get_regs(t.vcpu, &r2), 0);
    assert_true(r2.rax > r1.rax);
    tvm_stop(&t);
}

/* After an unclaimed read, register access first completes the instruction
 * with the caller's answer; a new RIP set afterwards is where the guest goes. */
static void test_state_after_pending_io(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "unclaimed", VMM_X86_LONG, 0);
    vmm_exit x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_IO);
    assert_int_equal(x.io.port, 0x510);
    uint32_t answer = 0x600dcafe;
    memcpy(x.io.data, &answer, 4);
    vmm_regs r;
    assert_int_equal(vmm_vcpu_get_regs(t.vcpu, &r), 0);
    assert_int_equal(r.rax & 0xffffffffu, answer); /* the IN completed */
    r.rip = GUEST_LOAD;                            /* start over */
    assert_int_equal(vmm_vcpu_set_regs(t.vcpu, &r), 0);
    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_IO);
    assert_int_equal(x.io.port, 0x510); /* the first instruction again, not the echo */
    assert_false(x.io.is_write);
    /* A kick while an I/O is pending also stops between instructions. */
    memcpy(x.io.data, &answer, 4);
    assert_int_equal(vmm_vcpu_kick(t.vcpu), 0);
    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_KICKED);
    assert_int_equal(vmm_vcpu_get_regs(t.vcpu, &r), 0);
    assert_int_equal(r.rax & 0xffffffffu, answer);
    x = tvm_run(&t);
    assert_int_equal(x.reason, VMM_EXIT_IO);
    assert_int_equal(x.io.port, 0x511); /* resumes with the echo */
    tvm_stop(&t);
}

static void sleep_ms(unsigned int ms)
{
    struct timespec d = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

/* Pause stops the guest (its counter stands still), resume lets it go on. */
static void test_pause_resume(void **state)
{
    (void)state;
    struct vm_thread v = {.guest = "spin_cpl3", .mode = VMM_X86_LONG};
    tvm_start(&v.t, v.guest, v.mode, 3);
    assert_int_equal(vmm_vm_get_state(v.t.vm), VMM_VM_IDLE);
    assert_int_equal(vmm_vm_pause(v.t.vm), VMM_ESTATE);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_vm_thread, &v), 0);
    while (vmm_vm_get_state(v.t.vm) != VMM_VM_RUNNING)
        sleep_ms(1);
    sleep_ms(30);
    assert_int_equal(vmm_vm_pause(v.t.vm), 0);
    assert_int_equal(vmm_vm_get_state(v.t.vm), VMM_VM_PAUSED);
    vmm_regs r1, r2, r3;
    /* vmm_vm_pause returned after the vCPU thread parked: registers are readable. */
    assert_int_equal(vmm_vcpu_get_regs(v.t.vcpu, &r1), 0);
    sleep_ms(50);
    assert_int_equal(vmm_vcpu_get_regs(v.t.vcpu, &r2), 0);
    assert_int_equal(r1.rax, r2.rax);
    assert_int_equal(vmm_vm_resume(v.t.vm), 0);
    assert_int_equal(vmm_vm_resume(v.t.vm), VMM_ESTATE);
    sleep_ms(50);
    assert_int_equal(vmm_vm_stop(v.t.vm), 0);
    pthread_join(th, NULL);
    assert_int_equal(v.rc, 0);
    assert_int_equal(v.res.reason, VMM_EXIT_KICKED);
    assert_int_equal(vmm_vcpu_get_regs(v.t.vcpu, &r3), 0);
    assert_true(r3.rax > r2.rax);
    assert_int_equal(vmm_vm_get_state(v.t.vm), VMM_VM_IDLE);
    tvm_stop(&v.t);
}

/* Snapshots of a VM paused inside vmm_vm_run: restore puts the registers back
 * and the run continues from there on resume; a running VM is refused. */
static void test_snapshot_while_paused(void **state)
{
    (void)state;
    struct vm_thread v = {.guest = "spin_cpl3", .mode = VMM_X86_LONG};
    tvm_start(&v.t, v.guest, v.mode, 3);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_vm_thread, &v), 0);
    while (vmm_vm_get_state(v.t.vm) != VMM_VM_RUNNING)
        sleep_ms(1);
    sleep_ms(20);
    vmm_snapshot *s;
    assert_int_equal(vmm_snapshot_take(v.t.vm, &s), VMM_EBUSY);
    assert_int_equal(vmm_vm_pause(v.t.vm), 0);
    vmm_regs r1, r2, r3;
    assert_int_equal(vmm_vcpu_get_regs(v.t.vcpu, &r1), 0);
    assert_int_equal(vmm_snapshot_take(v.t.vm, &s), 0);
    assert_int_equal(vmm_vm_resume(v.t.vm), 0);
    sleep_ms(30);
    assert_int_equal(vmm_vm_pause(v.t.vm), 0);
    assert_int_equal(vmm_vcpu_get_regs(v.t.vcpu, &r2), 0);
    assert_true(r2.rax > r1.rax);
    assert_int_equal(vmm_snapshot_restore(v.t.vm, s), 0);
    assert_int_equal(vmm_vcpu_get_regs(v.t.vcpu, &r3), 0);
    assert_int_equal(r3.rax, r1.rax);
    assert_int_equal(r3.rip, r1.rip);
    assert_int_equal(vmm_vm_resume(v.t.vm), 0);
    sleep_ms(20);
    assert_int_equal(vmm_vm_stop(v.t.vm), 0);
    pthread_join(th, NULL);
    assert_int_equal(v.rc, 0);
    vmm_snapshot_free(s);
    tvm_stop(&v.t);
}

static void test_sched_refusals(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, NULL, VMM_X86_LONG, 0);
    vmm_sched s = VMM_SCHED_INIT;
    s.weight = 0;
    assert_int_equal(vmm_vm_set_sched(t.vm, &s), VMM_EINVAL);
    s.weight = 70000;
    assert_int_equal(vmm_vm_set_sched(t.vm, &s), VMM_EINVAL);
    s.weight = 256;
    s.cap = 101;
    assert_int_equal(vmm_vm_set_sched(t.vm, &s), VMM_EINVAL);
    s.cap = 0;
    s.affinity = 1ull << 63; /* no such CPU here */
    assert_int_equal(vmm_vm_set_sched(t.vm, &s), VMM_EINVAL);
    s.version = 9;
    assert_int_equal(vmm_vm_set_sched(t.vm, &s), VMM_EVERSION);
    tvm_stop(&t);
}

struct seen {
    int nice;
    cpu_set_t cpus;
};

static int record_sched(void *opaque, vmm_vcpu *vcpu, vmm_exit *x)
{
    struct seen *s = opaque;
    (void)vcpu;
    s->nice = getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
    sched_getaffinity(0, sizeof s->cpus, &s->cpus);
    if (!(x->reason == VMM_EXIT_IO ? x->io.is_write : x->mmio.is_write))
        memset(x->reason == VMM_EXIT_IO ? x->io.data : x->mmio.data, 0, 8);
    return 0;
}

/* Weight and affinity reach the vCPU thread (seen from its exit handler). */
static void test_sched_weight_affinity(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "unclaimed", VMM_X86_LONG, 0);
    vmm_sched s = VMM_SCHED_INIT;
    s.weight = 128; /* half the default share: nice 3 */
    s.affinity = 1;
    assert_int_equal(vmm_vm_set_sched(t.vm, &s), 0);
    struct seen seen;
    memset(&seen, 0, sizeof seen);
    vmm_run_options o = VMM_RUN_OPTIONS_INIT;
    o.on_exit = record_sched;
    o.opaque = &seen;
    vmm_run_result res;
    assert_int_equal(vmm_vm_run(t.vm, &o, &res), 0);
    assert_int_equal(res.status, 0x99);
    assert_int_equal(seen.nice, 3);
    assert_true(CPU_ISSET(0, &seen.cpus));
    assert_int_equal(CPU_COUNT(&seen.cpus), 1);
    tvm_stop(&t);
}

static uint64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A cap of 20% keeps a spinning guest well below one CPU. Only an upper bound
 * is checked: a loaded machine can give less, never more. */
static void test_sched_cap(void **state)
{
    (void)state;
    struct tvm t;
    tvm_start(&t, "spin_cpl3", VMM_X86_LONG, 3);
    vmm_sched s = VMM_SCHED_INIT;
    s.cap = 20;
    assert_int_equal(vmm_vm_set_sched(t.vm, &s), 0);
    vmm_run_options o = VMM_RUN_OPTIONS_INIT;
    o.time_budget_ns = 500 * 1000000ull;
    vmm_run_result res;
    uint64_t w0 = now_ns(), c0 = cpu_ns();
    assert_int_equal(vmm_vm_run(t.vm, &o, &res), 0);
    uint64_t wall = now_ns() - w0, cpu = cpu_ns() - c0;
    assert_int_equal(res.reason, VMM_EXIT_TIMEOUT);
    printf("cap 20%%: cpu %.0f ms over %.0f ms wall\n", cpu / 1e6, wall / 1e6);
    assert_true(cpu < wall / 2);
    vmm_regs r;
    assert_int_equal(vmm_vcpu_get_regs(t.vcpu, &r), 0);
    assert_true(r.rax > 0); /* it did run */
    tvm_stop(&t);
}

int main(void)
{
    require_kvm("test_control");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kick_from_thread),
        cmocka_unit_test(test_time_budget),
        cmocka_unit_test(test_vm_run_status),
        cmocka_unit_test(test_vm_run_halt),
        cmocka_unit_test(test_vm_run_stop_and_budget),
        cmocka_unit_test(test_vm_run_on_exit),
        cmocka_unit_test(test_two_vms),
        cmocka_unit_test(test_two_vcpus_halt),
        cmocka_unit_test(test_no_fd_leak),
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_snapshot_while_paused),
        cmocka_unit_test(test_sched_refusals),
        cmocka_unit_test(test_sched_weight_affinity),
        cmocka_unit_test(test_sched_cap),
        cmocka_unit_test(test_kick_race),
        cmocka_unit_test(test_state_after_pending_io),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
