/* SPDX-License-Identifier: MIT */
/* irqfd interrupt lines and ioeventfd doorbells of the virtio transport,
 * through a fake device host whose irqfd and ioeventfd hooks only record the
 * eventfds: the test plays KVM's part (it signals a doorbell's eventfd as a
 * guest write would, reads the irqfd as the interrupt controller would, and
 * signals the resamplefd as the guest's EOI would). */
#include "virtio_driver.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>

#define NOTIFY_ADDR (MMIO_BASE + R_QUEUE_NOTIFY)

/* What the hooks saw. Written by whichever thread holds the device lock
 * (the test's register accesses, or the device's I/O thread serving a
 * doorbell); the test reads them with the lock held or the device idle. */
static struct {
    int irqfd_rc; /* what the irqfd hook answers */
    bool no_ioeventfd;
    unsigned int irqfd_calls, irqfd_unbinds;
    unsigned int line;
    int fd, resamplefd; /* the bound irqfd, -1 when none */
    unsigned int doorbell_calls, doorbell_drops;
    struct {
        uint64_t addr;
        uint32_t value;
        int fd; /* -1: none registered */
    } bell[8];
} hk;

static int h_irqfd(void *ctx, unsigned int line, int fd, int resamplefd, bool assign)
{
    (void)ctx;
    if (!assign) {
        assert_int_equal(fd, hk.fd);
        hk.irqfd_unbinds++;
        hk.fd = hk.resamplefd = -1;
        return 0;
    }
    hk.irqfd_calls++;
    if (hk.irqfd_rc < 0)
        return vmm__err(hk.irqfd_rc, "refused by the test");
    hk.line = line;
    hk.fd = fd;
    hk.resamplefd = resamplefd;
    return 0;
}

static int h_ioeventfd(void *ctx, uint64_t addr, uint32_t value, int fd, bool assign)
{
    (void)ctx;
    if (hk.no_ioeventfd)
        return vmm__err(VMM_ENOTSUP, "no ioeventfds in this test");
    assert_true(value < 8);
    if (assign) {
        assert_int_equal(hk.bell[value].fd, -1); /* never twice */
        hk.doorbell_calls++;
        hk.bell[value].addr = addr;
        hk.bell[value].value = value;
        hk.bell[value].fd = fd;
    } else {
        assert_int_equal(hk.bell[value].fd, fd);
        hk.doorbell_drops++;
        hk.bell[value].fd = -1;
    }
    return 0;
}

static const struct vmm__devhost ev_host = {.mem_read = h_read,
                                            .mem_write = h_write,
                                            .set_irq = h_set_irq,
                                            .claim = h_claim,
                                            .release = h_release,
                                            .irqfd = h_irqfd,
                                            .ioeventfd = h_ioeventfd};

static void hk_reset(void)
{
    memset(&hk, 0, sizeof hk);
    hk.fd = hk.resamplefd = -1;
    for (int i = 0; i < 8; i++)
        hk.bell[i].fd = -1;
}

static int ev_attach(struct fx *f, enum kind kind, const char *config)
{
    vmm__device_free(f->dev);
    f->dev = NULL;
    f->kind = kind;
    /* The shared checks look at KVM_IRQ_LINE levels; the irqfd is checked here. */
    f->has_irq = false;
    f->irq_calls = f->nclaims = f->releases = 0;
    for (int i = 0; i < 24; i++)
        f->level[i] = -1;
    return vmm__device_new(kind == RNG ? "virtio-rng" : "virtio-blk", config, &ev_host, f,
                           kind == RNG ? "rng0" : "disk0", &f->dev);
}

static int setup(void **st)
{
    hk_reset();
    return setup_bare(st);
}

/* An eventfd's counter, consumed: 0 when it was not signalled. */
static uint64_t take(int fd)
{
    uint64_t v = 0;
    if (read(fd, &v, sizeof v) < 0)
        assert_int_equal(errno, EAGAIN);
    return v;
}

static void signal_fd(int fd)
{
    uint64_t one = 1;
    assert_int_equal(write(fd, &one, sizeof one), (ssize_t)sizeof one);
}

/* Wait until the device's I/O thread has consumed fd's signal and finished
 * with it: the thread drains the eventfd with the device lock held, so once
 * it reads empty, taking the lock waits out the rest of that callback. */
static void settle(struct fx *f, int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (int i = 0; i < 10000 && poll(&p, 1, 0) == 1; i++)
        usleep(1000);
    assert_int_equal(poll(&p, 1, 0), 0);
    vmm__device_lock(f->dev);
    vmm__device_unlock(f->dev);
}

/* The guest's EOI: KVM signals the resamplefd (the line is de-asserted). */
static void eoi(struct fx *f)
{
    signal_fd(hk.resamplefd);
    settle(f, hk.resamplefd);
}

/* An rng request published and announced by a write to QueueNotify (which
 * exits to user space: served at once). */
static void rng_request(struct fx *f)
{
    desc(f, 0, DATA, 16, D_WRITE, 0);
    publish(f, 0);
    notify(f, 0);
}

/* The line of a live device goes through the irqfd: asserted by an eventfd
 * write, re-asserted after an EOI while InterruptStatus is nonzero, and left
 * de-asserted after the driver's InterruptACK and EOI. */
static void test_irqfd_level(void **st)
{
    struct fx *f = *st;
    assert_int_equal(ev_attach(f, RNG, RNG_CONFIG), 0);
    start_default(f);
    assert_int_equal(hk.irqfd_calls, 0); /* bound at the first assertion */
    rng_request(f);
    assert_int_equal(used_idx(f), 1);
    assert_int_equal(r32(f, R_ISR), ISR_USED);
    assert_int_equal(hk.irqfd_calls, 1);
    assert_int_equal(hk.line, IRQ);
    assert_true(hk.resamplefd >= 0);
    assert_int_not_equal(f->level[IRQ], 1); /* not through KVM_IRQ_LINE */
    assert_int_equal(take(hk.fd), 1);

    /* A second request before any EOI: the line is still held; no write. */
    rng_request(f);
    assert_int_equal(take(hk.fd), 0);

    /* EOI without InterruptACK: the level is still high, so re-asserted. */
    eoi(f);
    assert_int_equal(take(hk.fd), 1);
    eoi(f);
    assert_int_equal(take(hk.fd), 1);

    /* InterruptACK, then EOI: stays de-asserted. */
    w32(f, R_ISR_ACK, ISR_USED);
    assert_int_equal(r32(f, R_ISR), 0);
    assert_int_equal(take(hk.fd), 0);
    eoi(f);
    assert_int_equal(take(hk.fd), 0);

    /* The next used buffer asserts it again, once. */
    rng_request(f);
    assert_int_equal(take(hk.fd), 1);
    assert_int_equal(hk.irqfd_calls, 1);
    assert_int_not_equal(f->level[IRQ], 1);

    /* Destroy unbinds it before the device goes. */
    vmm__device_free(f->dev);
    f->dev = NULL;
    assert_int_equal(hk.irqfd_unbinds, 1);
}

/* A host that refuses the irqfd: KVM_IRQ_LINE for good, without asking
 * again; "irqfd": false never asks. */
static void test_irqfd_refused_and_off(void **st)
{
    struct fx *f = *st;
    hk.irqfd_rc = VMM_ENOTSUP;
    assert_int_equal(ev_attach(f, RNG, RNG_CONFIG), 0);
    start_default(f);
    rng_request(f);
    assert_int_equal(hk.irqfd_calls, 1);
    assert_int_equal(f->level[IRQ], 1);
    w32(f, R_ISR_ACK, ISR_USED);
    assert_int_equal(f->level[IRQ], 0);
    rng_request(f);
    assert_int_equal(f->level[IRQ], 1);
    assert_int_equal(hk.irqfd_calls, 1);

    hk_reset();
    assert_int_equal(ev_attach(f, RNG, "{\"mmio\": 268435456, \"irq\": 5, \"irqfd\": false}"), 0);
    start_default(f);
    rng_request(f);
    assert_int_equal(f->level[IRQ], 1);
    assert_int_equal(hk.irqfd_calls, 0);
}

/* "ioeventfd": a doorbell per ready queue from DRIVER_OK on; a signal on it
 * (what KVM does for the guest's QueueNotify write) is served on the I/O
 * thread; reset and QueueReady 0 drop it; destroy drops what is left. */
static void test_doorbell_lifecycle(void **st)
{
    struct fx *f = *st;
    assert_int_equal(ev_attach(f, RNG, "{\"mmio\": 268435456, \"irq\": 5, \"ioeventfd\": true}"),
                     0);
    assert_true(negotiate(f, F_VERSION_1) & S_FEATURES_OK);
    queue_setup(f, NUM);
    assert_int_equal(hk.doorbell_calls, 0); /* not before DRIVER_OK */
    w32(f, R_STATUS, S_LIVE);
    assert_int_equal(hk.doorbell_calls, 1);
    assert_int_equal(hk.bell[0].addr, NOTIFY_ADDR);
    int fd = hk.bell[0].fd;
    assert_true(fd >= 0);

    desc(f, 0, DATA, 32, D_WRITE, 0);
    publish(f, 0);
    signal_fd(fd);
    settle(f, fd);
    assert_int_equal(used_idx(f), 1);
    assert_int_equal(get32(f, f->used + 8), 32);
    assert_int_equal(get16(f, f->used), 0); /* VIRTQ_USED_F_NO_NOTIFY only while serving */
    assert_int_equal(r32(f, R_ISR), ISR_USED);
    assert_int_equal(take(hk.fd), 1); /* the line went through the irqfd */

    /* A write that exits anyway (the guest raced the registration) is still
     * served synchronously. */
    desc(f, 1, DATA + 64, 16, D_WRITE, 0);
    publish(f, 1);
    notify(f, 0);
    assert_int_equal(used_idx(f), 2);

    /* Reset drops it; a signal left over is not served. */
    desc(f, 2, DATA + 128, 16, D_WRITE, 0);
    publish(f, 2);
    w32(f, R_STATUS, 0);
    assert_int_equal(hk.doorbell_drops, 1);
    assert_int_equal(hk.bell[0].fd, -1);
    signal_fd(fd);
    usleep(10000);
    assert_int_equal(used_idx(f), 2);

    /* Set up again: the same eventfd, the stale signal drained. */
    start_default(f);
    assert_int_equal(hk.doorbell_calls, 2);
    assert_int_equal(hk.bell[0].fd, fd);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    expect_serves(f);

    /* QueueReady 0 drops it too. */
    w32(f, R_QUEUE_SEL, 0);
    w32(f, R_QUEUE_READY, 0);
    assert_int_equal(hk.doorbell_drops, 2);
    start_default(f);
    assert_int_equal(hk.doorbell_calls, 3);

    vmm__device_free(f->dev);
    f->dev = NULL;
    assert_int_equal(hk.doorbell_drops, 3);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
}

/* virtio-blk requests through the doorbell, and a driver that breaks the
 * protocol there: NEEDS_RESET as on the synchronous path. */
static void test_doorbell_blk(void **st)
{
    struct fx *f = *st;
    char cfg[256];
    snprintf(cfg, sizeof cfg,
             "{\"mmio\": %llu, \"irq\": %d, \"path\": \"%s\", \"ioeventfd\": true}",
             (unsigned long long)MMIO_BASE, IRQ, f->disk);
    assert_int_equal(ev_attach(f, BLK, cfg), 0);
    start_default(f);
    int fd = hk.bell[0].fd;
    assert_true(fd >= 0);

    const uint32_t hdr[4] = {T_IN, 0, 7, 0};
    memcpy(at(f, HDR, 16), hdr, 16);
    *at(f, STAT, 1) = 0xff;
    const struct seg s[3] = {{HDR, 16, 0}, {BUF, 1024, D_WRITE}, {STAT, 1, D_WRITE}};
    chain_at(f, f->desc, 0, s, 3);
    publish(f, 0);
    signal_fd(fd);
    settle(f, fd);
    assert_int_equal(used_idx(f), 1);
    assert_int_equal(*at(f, STAT, 1), BLK_OK);
    assert_true(matches_pat(at(f, BUF, 1024), 7 * 512, 1024));

    /* A head beyond the queue: the device needs a reset. */
    publish(f, NUM + 3);
    signal_fd(fd);
    settle(f, fd);
    expect_broken(f);
    recover(f);
}

/* Without ioeventfds on the host the key changes nothing: notifications are
 * served synchronously. Bad values for the keys are refused. */
static void test_doorbell_fallback_and_config(void **st)
{
    struct fx *f = *st;
    hk.no_ioeventfd = true;
    assert_int_equal(ev_attach(f, RNG, "{\"mmio\": 268435456, \"irq\": 5, \"ioeventfd\": true}"),
                     0);
    start_default(f);
    expect_serves(f);
    w32(f, R_STATUS, 0);
    start_default(f);
    expect_serves(f);

    assert_int_equal(ev_attach(f, RNG, "{\"mmio\": 268435456, \"ioeventfd\": 1}"), VMM_ECONFIG);
    assert_non_null(strstr(vmm__device_last_error(), "ioeventfd"));
    assert_int_equal(ev_attach(f, RNG, "{\"mmio\": 268435456, \"irqfd\": \"yes\"}"), VMM_ECONFIG);
    assert_non_null(strstr(vmm__device_last_error(), "irqfd"));
    /* Every virtio type takes the transport's keys. */
    char cfg[256];
    snprintf(cfg, sizeof cfg,
             "{\"mmio\": %llu, \"path\": \"%s\", \"ioeventfd\": false, \"irqfd\": true}",
             (unsigned long long)MMIO_BASE, f->disk);
    assert_int_equal(ev_attach(f, BLK, cfg), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_irqfd_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_irqfd_refused_and_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_doorbell_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_doorbell_blk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_doorbell_fallback_and_config, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
