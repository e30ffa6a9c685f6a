/* SPDX-License-Identifier: MIT */
/* Unit tests of the built-in 16550A "serial" and "debug-exit" devices over a fake host. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/internal.h"

/* Register offsets and bits (16550A data sheet). */
enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };
#define LCR_DLAB 0x80
#define MCR_LOOP 0x10
#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define IER_RDA  0x01
#define IER_THRE 0x02
#define IER_RLS  0x04

/* ---- fake host: records claims, interrupt levels and releases ---- */

struct host {
    unsigned int nclaims;
    struct {
        vmm_space space;
        uint64_t base, len;
    } claims[4];
    unsigned int nirq;
    struct {
        unsigned int line;
        int level;
    } irq[256];
    unsigned int releases;
};

static int h_set_irq(void *ctx, unsigned int line, int level)
{
    struct host *h = ctx;
    if (h->nirq < VMM__ARRAY_LEN(h->irq)) {
        h->irq[h->nirq].line = line;
        h->irq[h->nirq].level = level;
        h->nirq++;
    }
    return 0;
}

static int h_claim(void *ctx, vmm_device *dev, vmm_space space, uint64_t base, uint64_t len,
                   unsigned int index)
{
    struct host *h = ctx;
    (void)dev;
    (void)index;
    if (h->nclaims < VMM__ARRAY_LEN(h->claims)) {
        h->claims[h->nclaims].space = space;
        h->claims[h->nclaims].base = base;
        h->claims[h->nclaims].len = len;
    }
    h->nclaims++;
    return 0;
}

static void h_release(void *ctx, vmm_device *dev)
{
    struct host *h = ctx;
    (void)dev;
    h->releases++;
}

static const struct vmm__devhost fake_host = {
    .set_irq = h_set_irq, .claim = h_claim, .release = h_release};

/* Level of the last set_irq call, -1 if none. */
static int last_level(const struct host *h)
{
    return h->nirq ? h->irq[h->nirq - 1].level : -1;
}

/* ---- output capture ---- */

struct out {
    uint8_t buf[4096];
    size_t n;
    unsigned int calls;
};

static void capture_out(void *opaque, const uint8_t *buf, size_t len)
{
    struct out *o = opaque;
    o->calls++;
    for (size_t i = 0; i < len && o->n < sizeof o->buf; i++)
        o->buf[o->n++] = buf[i];
}

/* ---- register access as the bus does it ---- */

static uint8_t rd(vmm_device *d, unsigned int off)
{
    uint8_t v = 0xee;
    assert_int_equal(vmm__device_access(d, 0, off, &v, 1, false), 0);
    return v;
}

static void wr(vmm_device *d, unsigned int off, uint8_t v)
{
    assert_int_equal(vmm__device_access(d, 0, off, &v, 1, true), 0);
}

struct fx {
    struct host h;
    struct out out;
    vmm_device *dev;
};

static int new_serial(struct fx *f, const char *config)
{
    return vmm__device_new("serial", config, &fake_host, &f->h, NULL, &f->dev);
}

static int setup(void **st)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (new_serial(f, NULL) < 0 || vmm_serial_set_output(f->dev, capture_out, &f->out) < 0) {
        vmm__device_free(f->dev);
        free(f);
        return -1;
    }
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    struct fx *f = *st;
    vmm__device_free(f->dev);
    free(f);
    return 0;
}

static vmm_serial_stats stats(vmm_device *d)
{
    vmm_serial_stats s;
    memset(&s, 0xff, sizeof s);
    assert_int_equal(vmm_serial_get_stats(d, &s), 0);
    return s;
}

/* ---- creation and configuration ---- */

static void test_default_claim(void **st)
{
    struct fx *f = *st;
    assert_int_equal(f->h.nclaims, 1);
    assert_int_equal(f->h.claims[0].space, VMM_SPACE_PIO);
    assert_int_equal(f->h.claims[0].base, 0x3f8);
    assert_int_equal(f->h.claims[0].len, 8);
    assert_string_equal(vmm_device_id(f->dev), "serial");
    assert_ptr_equal(vmm_device_type(f->dev), vmm_device_find_type("serial"));
    assert_int_equal(f->h.releases, 0);
}

static void test_port_mmio_irq_config(void **st)
{
    (void)st;
    struct fx f = {0};
    assert_int_equal(new_serial(&f, "{\"port\": 760, \"irq\": 3}"), 0);
    assert_int_equal(f.h.claims[0].space, VMM_SPACE_PIO);
    assert_int_equal(f.h.claims[0].base, 0x2f8);
    wr(f.dev, IER, IER_THRE);
    assert_int_equal(f.h.nirq, 1);
    assert_int_equal(f.h.irq[0].line, 3);
    assert_int_equal(f.h.irq[0].level, 1);
    vmm__device_free(f.dev);

    memset(&f, 0, sizeof f);
    assert_int_equal(new_serial(&f, "{\"mmio\": 268435456}"), 0);
    assert_int_equal(f.h.nclaims, 1);
    assert_int_equal(f.h.claims[0].space, VMM_SPACE_MMIO);
    assert_int_equal(f.h.claims[0].base, 0x10000000);
    assert_int_equal(f.h.claims[0].len, 8);
    vmm__device_free(f.dev);

    /* The highest port whose 8 registers still fit below 0x10000. */
    memset(&f, 0, sizeof f);
    assert_int_equal(new_serial(&f, "{\"port\": 65528}"), 0);
    assert_int_equal(f.h.claims[0].base, 0xfff8);
    vmm__device_free(f.dev);
}

static void test_config_id(void **st)
{
    (void)st;
    struct fx f = {0};
    assert_int_equal(new_serial(&f, "{\"id\": \"com1\", \"port\": 1016}"), 0);
    assert_string_equal(vmm_device_id(f.dev), "com1");
    vmm__device_free(f.dev);
    /* 31 characters is the longest id. */
    memset(&f, 0, sizeof f);
    assert_int_equal(new_serial(&f, "{\"id\": \"abcdefghijklmnopqrstuvwxyz01234\"}"), 0);
    assert_string_equal(vmm_device_id(f.dev), "abcdefghijklmnopqrstuvwxyz01234");
    vmm__device_free(f.dev);
    /* Empty and whitespace-only configs mean defaults. */
    memset(&f, 0, sizeof f);
    assert_int_equal(new_serial(&f, ""), 0);
    assert_int_equal(f.h.claims[0].base, 0x3f8);
    vmm__device_free(f.dev);
    memset(&f, 0, sizeof f);
    assert_int_equal(new_serial(&f, " { } \n"), 0);
    vmm__device_free(f.dev);
}

static void test_config_errors(void **st)
{
    (void)st;
    static const struct {
        const char *json;
        const char *needle;  /* must appear in the message */
        const char *needle2; /* and this, if set */
    } cases[] = {
        {"{\"foo\": 1}", "config.foo", NULL},
        {"{\"port\": -1}", "config.port", NULL},
        {"{\"port\": 70000}", "config.port", NULL},
        {"{\"port\": 65529}", "config.port", NULL},
        {"{\"port\": \"x\"}", "config.port", NULL},
        {"{\"port\": 1016.5}", "config.port", NULL},
        {"{\"port\": true}", "config.port", NULL},
        {"{\"port\": 99999999999999999999}", "config.port", NULL},
        {"{\"mmio\": -4096}", "config.mmio", NULL},
        {"{\"mmio\": 18446744073709551615}", "config.mmio", NULL},
        {"{\"port\": 1016, \"mmio\": 4096}", "port", "mmio"},
        {"{\"irq\": 24}", "config.irq", NULL},
        {"{\"fd\": -3}", "config.fd", NULL},
        {"{\"fd\": 2147483648}", "config.fd", NULL},
        {"{\"id\": \"\"}", "config.id", NULL},
        {"{\"id\": 5}", "config.id", NULL},
        {"{\"id\": \"abcdefghijklmnopqrstuvwxyz012345\"}", "config.id", NULL},
        {"{", "JSON", NULL},
        {"{\"port\": }", "JSON", NULL},
        {"{\"port\": 1016", "JSON", NULL},
        {"{\"port\": 1016} x", "JSON", NULL},
        {"{\"port\": 1016}{}", "JSON", NULL},
        {"[1016]", "object", NULL},
        {"1016", "JSON", NULL},
        {"\"port\"", "object", NULL},
        {"null", "JSON", NULL},
        {"{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":1}}}}}}}}}", NULL, NULL},
    };
    for (size_t i = 0; i < VMM__ARRAY_LEN(cases); i++) {
        struct fx f = {0};
        f.dev = (vmm_device *)&f; /* must be reset to NULL */
        int rc = new_serial(&f, cases[i].json);
        if (rc != VMM_ECONFIG)
            fail_msg("%s: rc %d, expected VMM_ECONFIG", cases[i].json, rc);
        assert_null(f.dev);
        assert_int_equal(f.h.nclaims, 0);
        const vmm_error *e = vmm_error_last();
        assert_int_equal(e->code, VMM_ECONFIG);
        if (cases[i].needle && !strstr(e->message, cases[i].needle))
            fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].json, e->message, cases[i].needle);
        if (cases[i].needle2 && !strstr(e->message, cases[i].needle2))
            fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].json, e->message,
                     cases[i].needle2);
        /* The message says which device failed. */
        assert_non_null(strstr(e->message, "serial"));
    }
}

/* JSON null is a value like any other; a null id must be refused, not dereferenced. */
static void test_config_id_null(void **st)
{
    (void)st;
    struct fx f = {0};
    assert_int_equal(new_serial(&f, "{\"id\": null}"), VMM_ECONFIG);
    assert_null(f.dev);
    assert_non_null(strstr(vmm_error_last()->message, "config.id"));
}

/* ---- transmit ---- */

static void test_thr_to_callback(void **st)
{
    struct fx *f = *st;
    wr(f->dev, RBR_THR, 'h');
    wr(f->dev, RBR_THR, 'i');
    assert_int_equal(f->out.n, 2);
    assert_memory_equal(f->out.buf, "hi", 2);
    vmm_serial_stats s = stats(f->dev);
    assert_int_equal(s.tx_bytes, 2);
    assert_int_equal(s.tx_dropped, 0);
    assert_int_equal(s.rx_bytes, 0);
    /* THR is empty again at once. */
    assert_int_equal(rd(f->dev, LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);

    /* With no callback and no fd the byte is dropped and counted. */
    assert_int_equal(vmm_serial_set_output(f->dev, NULL, NULL), 0);
    wr(f->dev, RBR_THR, '!');
    assert_int_equal(f->out.n, 2);
    s = stats(f->dev);
    assert_int_equal(s.tx_bytes, 3);
    assert_int_equal(s.tx_dropped, 1);
}

static void test_thr_to_fd(void **st)
{
    (void)st;
    int p[2];
    assert_int_equal(pipe(p), 0);
    char cfg[64];
    snprintf(cfg, sizeof cfg, "{\"fd\": %d}", p[1]);
    struct fx f = {0};
    assert_int_equal(new_serial(&f, cfg), 0);
    assert_int_equal(vmm_serial_set_output(f.dev, capture_out, &f.out), 0);
    for (const char *c = "ok\n"; *c; c++)
        wr(f.dev, RBR_THR, (uint8_t)*c);
    char buf[8] = {0};
    assert_int_equal(read(p[0], buf, sizeof buf), 3);
    assert_string_equal(buf, "ok\n");
    /* The callback gets the bytes too. */
    assert_int_equal(f.out.n, 3);
    assert_memory_equal(f.out.buf, "ok\n", 3);
    assert_int_equal(stats(f.dev).tx_dropped, 0);
    vmm__device_free(f.dev);
    /* libvmm does not own the fd. */
    assert_int_equal(fcntl(p[1], F_GETFD), 0);
    close(p[0]);
    close(p[1]);
}

/* A guest flooding the port while the embedder's fd is full gets its bytes
 * dropped and counted; the vCPU never blocks, whether the fd is non-blocking
 * or blocking (a blocking write would stall the vCPU, unstoppably). */
static void flood(int pipe_flags)
{
    int p[2];
    assert_int_equal(pipe2(p, pipe_flags), 0);
    int cap = fcntl(p[1], F_SETPIPE_SZ, 4096);
    if (cap < 0)
        cap = fcntl(p[1], F_GETPIPE_SZ);
    assert_true(cap > 0);
    char cfg[64];
    snprintf(cfg, sizeof cfg, "{\"fd\": %d}", p[1]);
    struct fx f = {0};
    assert_int_equal(new_serial(&f, cfg), 0);
    const unsigned int total = (unsigned int)cap + 5000;
    for (unsigned int i = 0; i < total; i++)
        wr(f.dev, RBR_THR, (uint8_t)i);
    vmm_serial_stats s = stats(f.dev);
    assert_int_equal(s.tx_bytes, total);
    assert_true(s.tx_dropped >= 5000);
    /* What did get through is the start of the stream, in order, and every
     * byte was either delivered or counted as dropped. */
    assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    uint8_t buf[512];
    uint64_t got = 0;
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            assert_int_equal(buf[i], (uint8_t)(got + (uint64_t)i));
        got += (uint64_t)n;
    }
    assert_int_equal(errno, EAGAIN);
    assert_true(got > 0);
    assert_int_equal(got + s.tx_dropped, total);
    vmm__device_free(f.dev);
    close(p[0]);
    close(p[1]);
}

static void test_thr_flood_into_blocked_fd(void **st)
{
    (void)st;
    flood(O_NONBLOCK);
}

static void test_thr_flood_into_blocking_fd(void **st)
{
    (void)st;
    flood(0);
}

/* ---- registers ---- */

static void test_reset_values(void **st)
{
    struct fx *f = *st;
    assert_int_equal(rd(f->dev, LSR), LSR_THRE | LSR_TEMT);
    assert_int_equal(rd(f->dev, IIR_FCR), 0x01); /* no interrupt pending, FIFOs off */
    assert_int_equal(rd(f->dev, IER), 0);
    assert_int_equal(rd(f->dev, LCR), 0x03);
    assert_int_equal(rd(f->dev, MCR), 0);
    assert_int_equal(rd(f->dev, MSR), 0xb0); /* CTS, DSR, DCD */
    assert_int_equal(rd(f->dev, SCR), 0);
    assert_int_equal(rd(f->dev, RBR_THR), 0); /* empty receiver reads 0 */
    wr(f->dev, LCR, 0x03 | LCR_DLAB);
    assert_int_equal(rd(f->dev, RBR_THR), 12); /* 9600 baud */
    assert_int_equal(rd(f->dev, IER), 0);
    /* No interrupt was raised by any of this. */
    assert_int_equal(f->h.nirq, 0);
}

static void test_scratch_and_fifo_control(void **st)
{
    struct fx *f = *st;
    wr(f->dev, SCR, 0xa5);
    assert_int_equal(rd(f->dev, SCR), 0xa5);
    wr(f->dev, IIR_FCR, 0x01); /* enable FIFOs: IIR shows it in bits 7:6 */
    assert_int_equal(rd(f->dev, IIR_FCR), 0xc1);
    /* FCR bit 1 clears the receive FIFO. */
    assert_int_equal(vmm_serial_input(f->dev, "abc", 3), 3);
    assert_true(rd(f->dev, LSR) & LSR_DR);
    wr(f->dev, IIR_FCR, 0x03);
    assert_false(rd(f->dev, LSR) & LSR_DR);
    assert_int_equal(rd(f->dev, RBR_THR), 0);
    assert_int_equal(vmm_serial_input(f->dev, "d", 1), 1);
    assert_int_equal(rd(f->dev, RBR_THR), 'd');
}

static void test_dlab(void **st)
{
    struct fx *f = *st;
    wr(f->dev, IER, 0x05);
    wr(f->dev, LCR, 0x83);
    wr(f->dev, RBR_THR, 0x01); /* DLL, not THR */
    wr(f->dev, IER, 0x02);     /* DLM, not IER */
    assert_int_equal(rd(f->dev, RBR_THR), 0x01);
    assert_int_equal(rd(f->dev, IER), 0x02);
    assert_int_equal(f->out.n, 0); /* nothing transmitted */
    assert_int_equal(stats(f->dev).tx_bytes, 0);
    assert_int_equal(rd(f->dev, LCR), 0x83);

    /* Clearing DLAB restores THR/RBR and IER, with IER untouched. */
    wr(f->dev, LCR, 0x03);
    assert_int_equal(rd(f->dev, IER), 0x05);
    /* Input shows in RBR now, not DLL. */
    assert_int_equal(vmm_serial_input(f->dev, "r", 1), 1);
    assert_int_equal(rd(f->dev, RBR_THR), 'r');
    wr(f->dev, RBR_THR, 'x');
    assert_int_equal(f->out.n, 1);
    assert_int_equal(f->out.buf[0], 'x');
    wr(f->dev, IER, 0x00);
    /* The divisor survived. */
    wr(f->dev, LCR, 0x83);
    assert_int_equal(rd(f->dev, RBR_THR), 0x01);
    assert_int_equal(rd(f->dev, IER), 0x02);
    /* With DLAB set, input stays queued instead of being read as DLL. */
    assert_int_equal(vmm_serial_input(f->dev, "q", 1), 1);
    assert_int_equal(rd(f->dev, RBR_THR), 0x01);
    wr(f->dev, LCR, 0x03);
    assert_int_equal(rd(f->dev, RBR_THR), 'q');
}

static void test_divisor_zero(void **st)
{
    struct fx *f = *st;
    wr(f->dev, LCR, 0x83);
    wr(f->dev, RBR_THR, 0);
    wr(f->dev, IER, 0);
    assert_int_equal(rd(f->dev, RBR_THR), 0);
    assert_int_equal(rd(f->dev, IER), 0);
    wr(f->dev, LCR, 0x03);
    wr(f->dev, RBR_THR, 'z');
    wr(f->dev, RBR_THR, 'z');
    assert_int_equal(f->out.n, 2);
    assert_memory_equal(f->out.buf, "zz", 2);
    assert_int_equal(rd(f->dev, LSR), LSR_THRE | LSR_TEMT);
    assert_int_equal(vmm_serial_input(f->dev, "k", 1), 1);
    assert_int_equal(rd(f->dev, RBR_THR), 'k');
}

static void test_thre_interrupt(void **st)
{
    struct fx *f = *st;
    assert_int_equal(f->h.nirq, 0);
    wr(f->dev, IER, IER_THRE);
    /* THR is empty: enabling the interrupt raises it at once. */
    assert_int_equal(f->h.nirq, 1);
    assert_int_equal(f->h.irq[0].line, 4);
    assert_int_equal(f->h.irq[0].level, 1);
    assert_int_equal(rd(f->dev, IIR_FCR), 0x02);
    /* Reading IIR acknowledged it. */
    assert_int_equal(last_level(&f->h), 0);
    assert_int_equal(f->h.irq[f->h.nirq - 1].line, 4);
    assert_int_equal(rd(f->dev, IIR_FCR), 0x01);
    /* A transmitted byte empties THR again: interrupt again. */
    wr(f->dev, RBR_THR, 'a');
    assert_int_equal(last_level(&f->h), 1);
    assert_int_equal(rd(f->dev, IIR_FCR), 0x02);
    assert_int_equal(last_level(&f->h), 0);
    /* The line is only driven on changes. */
    unsigned int n = f->h.nirq;
    assert_int_equal(rd(f->dev, LSR), LSR_THRE | LSR_TEMT);
    assert_int_equal(rd(f->dev, IIR_FCR), 0x01);
    assert_int_equal(f->h.nirq, n);
    /* Disabling the source lowers a pending interrupt. */
    wr(f->dev, RBR_THR, 'b');
    assert_int_equal(last_level(&f->h), 1);
    wr(f->dev, IER, 0);
    assert_int_equal(last_level(&f->h), 0);
    assert_int_equal(rd(f->dev, IIR_FCR), 0x01);
}

static void test_rx_input(void **st)
{
    struct fx *f = *st;
    assert_false(rd(f->dev, LSR) & LSR_DR);
    assert_int_equal(vmm_serial_input(f->dev, "abc", 3), 3);
    assert_true(rd(f->dev, LSR) & LSR_DR);
    /* RDA not enabled yet: no interrupt. */
    assert_int_equal(f->h.nirq, 0);
    assert_int_equal(rd(f->dev, IIR_FCR), 0x01);
    wr(f->dev, IER, IER_RDA);
    assert_int_equal(rd(f->dev, IIR_FCR), 0x04);
    assert_int_equal(last_level(&f->h), 1);
    assert_int_equal(rd(f->dev, RBR_THR), 'a');
    assert_int_equal(rd(f->dev, RBR_THR), 'b');
    assert_true(rd(f->dev, LSR) & LSR_DR);
    assert_int_equal(last_level(&f->h), 1);
    assert_int_equal(rd(f->dev, RBR_THR), 'c');
    /* Drained: DR clear, interrupt gone. */
    assert_false(rd(f->dev, LSR) & LSR_DR);
    assert_int_equal(rd(f->dev, IIR_FCR), 0x01);
    assert_int_equal(last_level(&f->h), 0);
    assert_int_equal(rd(f->dev, RBR_THR), 0);
    assert_int_equal(stats(f->dev).rx_bytes, 3);
    /* Input while RDA is enabled raises the line at once. */
    assert_int_equal(vmm_serial_input(f->dev, "d", 1), 1);
    assert_int_equal(last_level(&f->h), 1);
    assert_int_equal(vmm_serial_input(f->dev, NULL, 0), 0);
    assert_int_equal(vmm_serial_input(f->dev, NULL, 1), VMM_EINVAL);
}

static void test_rx_fifo_capacity_and_order(void **st)
{
    struct fx *f = *st;
    static uint8_t big[2000];
    for (unsigned int i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    assert_int_equal(vmm_serial_input(f->dev, big, sizeof big), 1024);
    assert_int_equal(vmm_serial_input(f->dev, big, 1), 0);
    /* Read part, refill across the ring's end, and check the whole order. */
    for (unsigned int i = 0; i < 1000; i++)
        assert_int_equal(rd(f->dev, RBR_THR), (uint8_t)(i * 7));
    assert_int_equal(vmm_serial_input(f->dev, big + 1024, 976), 976);
    for (unsigned int i = 1000; i < 2000; i++)
        assert_int_equal(rd(f->dev, RBR_THR), (uint8_t)(i * 7));
    assert_false(rd(f->dev, LSR) & LSR_DR);
    assert_int_equal(stats(f->dev).rx_bytes, 2000);
    /* Filling the FIFO from the host side is not an overrun. */
    assert_false(rd(f->dev, LSR) & LSR_OE);
}

static void test_overrun(void **st)
{
    struct fx *f = *st;
    static uint8_t fill[1024];
    memset(fill, 'f', sizeof fill);
    assert_int_equal(vmm_serial_input(f->dev, fill, sizeof fill), 1024);
    wr(f->dev, MCR, MCR_LOOP);
    wr(f->dev, IER, IER_RLS);
    wr(f->dev, RBR_THR, 'X');                    /* looped back into a full FIFO */
    assert_int_equal(rd(f->dev, IIR_FCR), 0x06); /* receiver line status */
    assert_int_equal(last_level(&f->h), 1);
    uint8_t lsr = rd(f->dev, LSR);
    assert_true(lsr & LSR_OE);
    assert_true(lsr & LSR_DR);
    /* Reading LSR cleared OE and the interrupt. */
    assert_false(rd(f->dev, LSR) & LSR_OE);
    assert_int_equal(last_level(&f->h), 0);
    /* The lost byte is not in the FIFO. */
    for (unsigned int i = 0; i < 1024; i++)
        assert_int_equal(rd(f->dev, RBR_THR), 'f');
    assert_false(rd(f->dev, LSR) & LSR_DR);
}

static void test_loopback(void **st)
{
    struct fx *f = *st;
    wr(f->dev, MCR, MCR_LOOP);
    wr(f->dev, RBR_THR, 'q');
    wr(f->dev, RBR_THR, 'r');
    assert_int_equal(f->out.n, 0); /* nothing leaves the chip */
    assert_true(rd(f->dev, LSR) & LSR_DR);
    assert_int_equal(rd(f->dev, RBR_THR), 'q');
    assert_int_equal(rd(f->dev, RBR_THR), 'r');
    assert_false(rd(f->dev, LSR) & LSR_DR);
    /* Modem outputs feed the modem inputs: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
    wr(f->dev, MCR, MCR_LOOP | 0x0f);
    assert_int_equal(rd(f->dev, MSR) & 0xf0, 0xf0);
    wr(f->dev, MCR, MCR_LOOP | 0x01);
    assert_int_equal(rd(f->dev, MSR) & 0xf0, 0x20);
    wr(f->dev, MCR, MCR_LOOP | 0x02);
    assert_int_equal(rd(f->dev, MSR) & 0xf0, 0x10);
    /* Leaving loopback transmits again. */
    wr(f->dev, MCR, 0);
    wr(f->dev, RBR_THR, 's');
    assert_int_equal(f->out.n, 1);
    assert_int_equal(f->out.buf[0], 's');
    assert_false(rd(f->dev, LSR) & LSR_DR);
}

static void test_wide_accesses_use_low_byte(void **st)
{
    struct fx *f = *st;
    uint16_t w = 0x4142;
    assert_int_equal(vmm__device_access(f->dev, 0, RBR_THR, &w, 2, true), 0);
    uint32_t d = 0x44434241;
    assert_int_equal(vmm__device_access(f->dev, 0, RBR_THR, &d, 4, true), 0);
    assert_int_equal(f->out.n, 2); /* one byte per access */
    assert_memory_equal(f->out.buf, "BA", 2);
    d = 0xdeadbe77;
    assert_int_equal(vmm__device_access(f->dev, 0, SCR, &d, 4, true), 0);
    assert_int_equal(rd(f->dev, SCR), 0x77);
    /* Reads fill the low byte and zero the rest. */
    d = 0xffffffff;
    assert_int_equal(vmm__device_access(f->dev, 0, LSR, &d, 4, false), 0);
    assert_int_equal(d, LSR_THRE | LSR_TEMT);
    w = 0xffff;
    assert_int_equal(vmm__device_access(f->dev, 0, SCR, &w, 2, false), 0);
    assert_int_equal(w, 0x77);
    uint64_t q = UINT64_MAX;
    assert_int_equal(vmm__device_access(f->dev, 0, LCR, &q, 8, false), 0);
    assert_int_equal(q, 0x03);
}

static void test_readonly_registers_ignore_writes(void **st)
{
    struct fx *f = *st;
    wr(f->dev, LSR, 0x00);
    wr(f->dev, LSR, 0xff);
    assert_int_equal(rd(f->dev, LSR), LSR_THRE | LSR_TEMT);
    wr(f->dev, MSR, 0x00);
    assert_int_equal(rd(f->dev, MSR), 0xb0);
    wr(f->dev, MSR, 0xff);
    assert_int_equal(rd(f->dev, MSR), 0xb0);
    /* Writing IIR's address is FCR, it does not set the interrupt identity. */
    wr(f->dev, IIR_FCR, 0x00);
    assert_int_equal(rd(f->dev, IIR_FCR), 0x01);
    assert_int_equal(f->h.nirq, 0);
}

static void test_offsets_beyond_registers(void **st)
{
    struct fx *f = *st;
    static const uint64_t offs[] = {8, 9, 0xff, 0x1000, UINT64_MAX};
    for (size_t i = 0; i < VMM__ARRAY_LEN(offs); i++) {
        uint32_t v = 0;
        assert_true(vmm__device_access(f->dev, 0, offs[i], &v, 4, false) < 0);
        assert_int_equal(v, 0xffffffff); /* failed reads give all ones */
        v = 'w';
        assert_true(vmm__device_access(f->dev, 0, offs[i], &v, 1, true) < 0);
    }
    assert_int_equal(f->out.n, 0);
    assert_int_equal(rd(f->dev, LSR), LSR_THRE | LSR_TEMT);
}

/* ---- reset, save and load ---- */

static void test_device_reset(void **st)
{
    struct fx *f = *st;
    wr(f->dev, LCR, 0x1b);
    wr(f->dev, SCR, 0x42);
    wr(f->dev, IER, IER_THRE);
    assert_int_equal(last_level(&f->h), 1);
    assert_int_equal(vmm_serial_input(f->dev, "zz", 2), 2);
    assert_int_equal(vmm_device_reset(f->dev), 0);
    assert_int_equal(rd(f->dev, LCR), 0x03);
    assert_int_equal(rd(f->dev, SCR), 0);
    assert_int_equal(rd(f->dev, IER), 0);
    assert_int_equal(rd(f->dev, LSR), LSR_THRE | LSR_TEMT);
    assert_int_equal(rd(f->dev, RBR_THR), 0);
    assert_int_equal(last_level(&f->h), 0); /* the interrupt was lowered */
    assert_int_equal(vmm_device_reset(NULL), VMM_EINVAL);
}

/* Put a device into a distinctive state: divisor, line settings, FIFO content
 * with the ring's head moved. */
static void make_state(vmm_device *d)
{
    wr(d, LCR, LCR_DLAB | 0x1b);
    wr(d, RBR_THR, 0x34);
    wr(d, IER, 0x12);
    wr(d, LCR, 0x1b);
    wr(d, IER, IER_RDA | IER_RLS);
    wr(d, MCR, 0x0b);
    wr(d, SCR, 0x99);
    wr(d, IIR_FCR, 0x01);
    assert_int_equal(vmm_serial_input(d, "wxyz", 4), 4);
    assert_int_equal(rd(d, RBR_THR), 'w');
}

static void test_save_load_round_trip(void **st)
{
    struct fx *f = *st;
    make_state(f->dev);
    size_t len = 0;
    assert_int_equal(vmm_device_save(f->dev, NULL, 0, &len), 0);
    assert_int_equal(len, 16 + 3);
    uint8_t buf[64];
    size_t len2 = 0;
    assert_int_equal(vmm_device_save(f->dev, buf, len - 1, &len2), VMM_ERANGE);
    assert_int_equal(vmm_device_save(f->dev, buf, sizeof buf, &len2), 0);
    assert_int_equal(len2, len);

    struct fx g = {0};
    assert_int_equal(new_serial(&g, "{\"port\": 760}"), 0);
    assert_int_equal(vmm_device_load(g.dev, buf, len), 0);
    /* The restored device raises its pending receive interrupt. */
    assert_int_equal(last_level(&g.h), 1);
    assert_int_equal(rd(g.dev, LCR), 0x1b);
    assert_int_equal(rd(g.dev, IER), IER_RDA | IER_RLS);
    assert_int_equal(rd(g.dev, MCR), 0x0b);
    assert_int_equal(rd(g.dev, SCR), 0x99);
    assert_int_equal(rd(g.dev, IIR_FCR), 0xc4);
    assert_true(rd(g.dev, LSR) & LSR_DR);
    assert_int_equal(rd(g.dev, RBR_THR), 'x');
    assert_int_equal(rd(g.dev, RBR_THR), 'y');
    assert_int_equal(rd(g.dev, RBR_THR), 'z');
    assert_false(rd(g.dev, LSR) & LSR_DR);
    wr(g.dev, LCR, LCR_DLAB | 0x1b);
    assert_int_equal(rd(g.dev, RBR_THR), 0x34);
    assert_int_equal(rd(g.dev, IER), 0x12);
    /* A full FIFO round-trips too. */
    wr(g.dev, LCR, 0x03);
    static uint8_t fill[1024], big[16 + 1024];
    for (unsigned int i = 0; i < sizeof fill; i++)
        fill[i] = (uint8_t)(i ^ 0x5a);
    assert_int_equal(vmm_serial_input(g.dev, fill, sizeof fill), 1024);
    assert_int_equal(vmm_device_save(g.dev, big, sizeof big, &len), 0);
    assert_int_equal(len, sizeof big);
    assert_int_equal(vmm_device_load(f->dev, big, len), 0);
    for (unsigned int i = 0; i < sizeof fill; i++)
        assert_int_equal(rd(f->dev, RBR_THR), fill[i]);
    vmm__device_free(g.dev);
}

static void test_load_refuses_bad_state(void **st)
{
    struct fx *f = *st;
    make_state(f->dev);
    uint8_t good[64], bad[64];
    size_t len;
    assert_int_equal(vmm_device_save(f->dev, good, sizeof good, &len), 0);
    assert_int_equal(len, 19);

    struct fx g = {0};
    assert_int_equal(new_serial(&g, NULL), 0);
    wr(g.dev, SCR, 0x11);
    /* Truncated at every length. */
    for (size_t n = 0; n < len; n++) {
        vmm_error_clear();
        if (vmm_device_load(g.dev, good, n) != VMM_EINVAL)
            fail_msg("load of %zu of %zu bytes was accepted", n, len);
        assert_int_equal(vmm_error_last()->code, VMM_EINVAL);
        assert_non_null(strstr(vmm_error_last()->message, "load"));
    }
    /* Longer than the FIFO length says. */
    memcpy(bad, good, len);
    bad[len] = 'q';
    assert_int_equal(vmm_device_load(g.dev, bad, len + 1), VMM_EINVAL);
    /* Wrong version byte. */
    memcpy(bad, good, len);
    bad[0] = 2;
    assert_int_equal(vmm_device_load(g.dev, bad, len), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "version"));
    bad[0] = 0;
    assert_int_equal(vmm_device_load(g.dev, bad, len), VMM_EINVAL);
    /* FIFO length that disagrees with the size, either way. */
    memcpy(bad, good, len);
    bad[11] = 5;
    assert_int_equal(vmm_device_load(g.dev, bad, len), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "FIFO"));
    bad[11] = 2;
    assert_int_equal(vmm_device_load(g.dev, bad, len), VMM_EINVAL);
    bad[11] = 3;
    bad[12] = 1; /* 259 */
    assert_int_equal(vmm_device_load(g.dev, bad, len), VMM_EINVAL);
    /* A FIFO length above the capacity, with matching data. */
    static uint8_t huge[16 + 1025];
    memcpy(huge, good, 16);
    huge[11] = 1025 & 0xff;
    huge[12] = 1025 >> 8;
    assert_int_equal(vmm_device_load(g.dev, huge, sizeof huge), VMM_EINVAL);
    huge[11] = 0xff;
    huge[12] = 0xff;
    assert_int_equal(vmm_device_load(g.dev, huge, sizeof huge), VMM_EINVAL);
    /* None of the refused loads changed the device. */
    assert_int_equal(rd(g.dev, SCR), 0x11);
    assert_int_equal(rd(g.dev, LCR), 0x03);
    assert_false(rd(g.dev, LSR) & LSR_DR);
    /* And the good state still loads. */
    assert_int_equal(vmm_device_load(g.dev, good, len), 0);
    assert_int_equal(rd(g.dev, SCR), 0x99);
    assert_int_equal(vmm_device_load(g.dev, NULL, 4), VMM_EINVAL);
    vmm__device_free(g.dev);
}

static void test_api_rejects_non_serial(void **st)
{
    (void)st;
    struct host h = {0};
    vmm_device *dx;
    assert_int_equal(vmm__device_new("debug-exit", NULL, &fake_host, &h, NULL, &dx), 0);
    struct out o = {0};
    vmm_serial_stats s;
    assert_int_equal(vmm_serial_set_output(dx, capture_out, &o), VMM_EINVAL);
    assert_int_equal(vmm_serial_input(dx, "a", 1), VMM_EINVAL);
    assert_int_equal(vmm_serial_get_stats(dx, &s), VMM_EINVAL);
    assert_int_equal(vmm_serial_set_output(NULL, capture_out, &o), VMM_EINVAL);
    assert_int_equal(vmm_serial_input(NULL, "a", 1), VMM_EINVAL);
    assert_int_equal(vmm_serial_get_stats(NULL, &s), VMM_EINVAL);
    vmm__device_free(dx);
}

/* ---- debug-exit ---- */

static void test_debug_exit_default(void **st)
{
    (void)st;
    struct host h = {0};
    vmm_device *dx;
    assert_int_equal(vmm__device_new("debug-exit", NULL, &fake_host, &h, NULL, &dx), 0);
    assert_int_equal(h.nclaims, 1);
    assert_int_equal(h.claims[0].space, VMM_SPACE_PIO);
    assert_int_equal(h.claims[0].base, 0xf4);
    assert_int_equal(h.claims[0].len, 4);
    int status;
    (void)vmm__dispatch_take_stop(&status);
    uint32_t v = 0xdeadbeef;
    assert_int_equal(vmm__device_access(dx, 0, 0, &v, 4, false), 0);
    assert_int_equal(v, 0); /* reads return 0 and do not stop */
    assert_false(vmm__dispatch_take_stop(&status));
    v = 0x01020304;
    assert_int_equal(vmm__device_access(dx, 0, 0, &v, 4, true), 0);
    assert_true(vmm__dispatch_take_stop(&status));
    assert_int_equal(status, 0x01020304);
    assert_false(vmm__dispatch_take_stop(&status));
    vmm__device_free(dx);
}

static void test_debug_exit_size2(void **st)
{
    (void)st;
    struct host h = {0};
    vmm_device *dx;
    assert_int_equal(
        vmm__device_new("debug-exit", "{\"size\": 2, \"port\": 1281}", &fake_host, &h, NULL, &dx),
        0);
    assert_int_equal(h.claims[0].base, 0x501);
    assert_int_equal(h.claims[0].len, 2);
    int status = -1;
    (void)vmm__dispatch_take_stop(&status);
    uint16_t w = 0x1234;
    assert_int_equal(vmm__device_access(dx, 0, 0, &w, 2, true), 0);
    assert_true(vmm__dispatch_take_stop(&status));
    assert_int_equal(status, 0x1234);
    /* Bits above the register's size are not part of the status. */
    uint32_t d = 0xabcd5678;
    assert_int_equal(vmm__device_access(dx, 0, 0, &d, 4, true), 0);
    assert_true(vmm__dispatch_take_stop(&status));
    assert_int_equal(status, 0x5678);
    vmm__device_free(dx);

    memset(&h, 0, sizeof h);
    assert_int_equal(
        vmm__device_new("debug-exit", "{\"size\": 1, \"mmio\": 4096}", &fake_host, &h, NULL, &dx),
        0);
    assert_int_equal(h.claims[0].space, VMM_SPACE_MMIO);
    assert_int_equal(h.claims[0].len, 1);
    w = 0x1234;
    assert_int_equal(vmm__device_access(dx, 0, 0, &w, 1, true), 0);
    assert_true(vmm__dispatch_take_stop(&status));
    assert_int_equal(status, 0x34);
    vmm__device_free(dx);
}

static void test_debug_exit_config_errors(void **st)
{
    (void)st;
    static const struct {
        const char *json, *needle;
    } cases[] = {
        {"{\"size\": 3}", "config.size"},
        {"{\"size\": 0}", "config.size"},
        {"{\"size\": 8}", "config.size"},
        {"{\"port\": 65533}", "config.port"},
        {"{\"port\": 244, \"mmio\": 4096}", "mmio"},
        {"{\"irq\": 4}", "config.irq"},
    };
    for (size_t i = 0; i < VMM__ARRAY_LEN(cases); i++) {
        struct host h = {0};
        vmm_device *dx = (vmm_device *)&h;
        int rc = vmm__device_new("debug-exit", cases[i].json, &fake_host, &h, NULL, &dx);
        if (rc != VMM_ECONFIG)
            fail_msg("%s: rc %d, expected VMM_ECONFIG", cases[i].json, rc);
        assert_null(dx);
        assert_int_equal(h.nclaims, 0);
        if (!strstr(vmm_error_last()->message, cases[i].needle))
            fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].json, vmm_error_last()->message,
                     cases[i].needle);
    }
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_default_claim),
        cmocka_unit_test(test_port_mmio_irq_config),
        cmocka_unit_test(test_config_id),
        cmocka_unit_test(test_config_errors),
        T(test_thr_to_callback),
        cmocka_unit_test(test_thr_to_fd),
        cmocka_unit_test(test_thr_flood_into_blocked_fd),
        cmocka_unit_test(test_thr_flood_into_blocking_fd),
        T(test_reset_values),
        T(test_scratch_and_fifo_control),
        T(test_dlab),
        T(test_divisor_zero),
        T(test_thre_interrupt),
        T(test_rx_input),
        T(test_rx_fifo_capacity_and_order),
        T(test_overrun),
        T(test_loopback),
        T(test_wide_accesses_use_low_byte),
        T(test_readonly_registers_ignore_writes),
        T(test_offsets_beyond_registers),
        T(test_device_reset),
        T(test_save_load_round_trip),
        T(test_load_refuses_bad_state),
        cmocka_unit_test(test_api_rejects_non_serial),
        cmocka_unit_test(test_debug_exit_default),
        cmocka_unit_test(test_debug_exit_size2),
        cmocka_unit_test(test_debug_exit_config_errors),
        /* Last: while the bug it reports stands, it crashes (and UBSan aborts the run). */
        cmocka_unit_test(test_config_id_null),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
