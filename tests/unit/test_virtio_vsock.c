/* SPDX-License-Identifier: MIT */
/* Unit tests of virtio-vsock over the virtio-mmio transport: a driver-side
 * fake over plain memory (no KVM) plays the guest, real UNIX sockets the host
 * programs. Connections both ways, data, credit, shutdown and reset, and the
 * hostile packets. Waits on the device's I/O thread are bounded loops. */
#include "virtio_driver.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "virtio/vsock_proto.h"

#define CID        3u
#define DEV_BUF    65536u /* the device's advertised buffer */
#define DEV_CONNS  32u
#define VNUM       16u
#define RINGS(q)   (0x10000ull + 0x4000ull * (q)) /* desc; avail +0x1000; used +0x2000 */
#define RXBUF(i)   (0x20000ull + 0x2000ull * (i))
#define RXBUF_SIZE 0x2000u
#define TXHDR      0x40000ull
#define TXDATA     0x41000ull /* up to 64 KiB */
#define SPIN_MS    5000       /* bound of every wait for the I/O thread */

struct dq {
    uint16_t avail_idx, used_seen;
};

struct vt {
    struct fx *f;
    char dir[64], path[108];
    struct dq q[3];
};

static void sleep_ms(unsigned int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- set-up ---- */

static int vs_attach(struct vt *t, const char *config)
{
    vmm__device_free(t->f->dev);
    t->f->dev = NULL;
    return vmm__device_new("virtio-vsock", config, &fake_host, t->f, "vsock0", &t->f->dev);
}

static int vs_attach_default(struct vt *t)
{
    char cfg[256];
    snprintf(cfg, sizeof cfg,
             "{\"mmio\": %llu, \"irq\": %d, \"guest_cid\": %u, \"uds_path\": \"%s\"}",
             (unsigned long long)MMIO_BASE, IRQ, CID, t->path);
    return vs_attach(t, cfg);
}

static int setup(void **st)
{
    struct vt *t = calloc(1, sizeof *t);
    if (!t || !(t->f = fx_new()))
        return -1;
    snprintf(t->dir, sizeof t->dir, "/tmp/test_vsock.XXXXXX");
    if (!mkdtemp(t->dir))
        return -1;
    snprintf(t->path, sizeof t->path, "%s/v.sock", t->dir);
    t->f->has_irq = true;
    for (int i = 0; i < 24; i++)
        t->f->level[i] = -1;
    *st = t;
    return vs_attach_default(t) < 0 ? -1 : 0;
}

static int teardown_vs(void **st)
{
    struct vt *t = *st;
    vmm__device_free(t->f->dev);
    t->f->dev = NULL;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", t->dir);
    if (system(cmd) != 0)
        return -1;
    free(t->f->ram);
    free(t->f);
    free(t);
    alarm(0);
    return 0;
}

/* ---- the driver ---- */

static void q_setup(struct vt *t, unsigned int q)
{
    uint64_t r = RINGS(q);
    memset(at(t->f, r, 0x3000), 0, 0x3000);
    t->q[q] = (struct dq){0, 0};
    assert_int_equal(queue_try(t->f, q, VNUM, r, r + 0x1000, r + 0x2000), 1);
}

/* Features, three queues, DRIVER_OK; nrx receive buffers posted. */
static void vs_start(struct vt *t, unsigned int nrx)
{
    assert_true(negotiate(t->f, F_VERSION_1 | VSOCK_F_STREAM) & S_FEATURES_OK);
    assert_true(t->f->offered & VSOCK_F_STREAM);
    for (unsigned int q = 0; q < 3; q++)
        q_setup(t, q);
    w32(t->f, R_STATUS, S_LIVE);
    assert_int_equal(r32(t->f, R_STATUS), S_LIVE);
    for (unsigned int i = 0; i < nrx; i++) {
        desc_at(t->f, RINGS(0), (uint16_t)i, RXBUF(i), RXBUF_SIZE, D_WRITE, 0);
        vmm__device_lock(t->f->dev);
        put16(t->f, RINGS(0) + 0x1000 + 4 + 2ull * (t->q[0].avail_idx % VNUM), (uint16_t)i);
        t->q[0].avail_idx++;
        put16(t->f, RINGS(0) + 0x1002, t->q[0].avail_idx);
        vmm__device_unlock(t->f->dev);
    }
    notify(t->f, 0);
}

/* Publish head on queue q (under the device lock: the I/O thread reads the
 * rx ring concurrently). */
static void q_publish(struct vt *t, unsigned int q, uint16_t head)
{
    vmm__device_lock(t->f->dev);
    put16(t->f, RINGS(q) + 0x1000 + 4 + 2ull * (t->q[q].avail_idx % VNUM), head);
    t->q[q].avail_idx++;
    put16(t->f, RINGS(q) + 0x1002, t->q[q].avail_idx);
    vmm__device_unlock(t->f->dev);
}

static bool q_used(struct vt *t, unsigned int q, uint32_t *id, uint32_t *len)
{
    vmm__device_lock(t->f->dev);
    bool got = get16(t->f, RINGS(q) + 0x2002) != t->q[q].used_seen;
    if (got) {
        uint64_t e = RINGS(q) + 0x2004 + 8ull * (t->q[q].used_seen % VNUM);
        *id = get32(t->f, e);
        *len = get32(t->f, e + 4);
        t->q[q].used_seen++;
    }
    vmm__device_unlock(t->f->dev);
    return got;
}

/* Send a packet on tx with len payload bytes from data (the header's len is
 * h->len as given); the used length, or -1 if the chain did not come back. */
static long tx_raw(struct vt *t, const struct vsock_hdr *h, const void *data, uint32_t len)
{
    memcpy(at(t->f, TXHDR, VSOCK_HDR_SIZE), h, VSOCK_HDR_SIZE);
    if (len)
        memcpy(at(t->f, TXDATA, len), data, len);
    desc_at(t->f, RINGS(1), 0, TXHDR, VSOCK_HDR_SIZE, len ? D_NEXT : 0, 1);
    if (len)
        desc_at(t->f, RINGS(1), 1, TXDATA, len, 0, 0);
    q_publish(t, 1, 0);
    notify(t->f, 1);
    uint32_t id, ul;
    if (!q_used(t, 1, &id, &ul))
        return -1;
    assert_int_equal(id, 0);
    return (long)ul;
}

static struct vsock_hdr mk(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
    return (struct vsock_hdr){.src_cid = CID,
                              .dst_cid = VSOCK_HOST_CID,
                              .src_port = src_port,
                              .dst_port = dst_port,
                              .type = 1,
                              .op = op,
                              .buf_alloc = 65536};
}

static void tx(struct vt *t, struct vsock_hdr h, const void *data, uint32_t len)
{
    h.len = len;
    assert_int_equal(tx_raw(t, &h, data, len), 0);
    assert_false(r32(t->f, R_STATUS) & S_NEEDS_RESET);
}

/* The next packet on rx within the bound: its payload (up to cap bytes) into
 * data; the buffer is posted again. false if none came. */
static bool rx_wait(struct vt *t, struct vsock_hdr *h, void *data, size_t cap, unsigned int ms)
{
    uint32_t id, len;
    for (unsigned int i = 0; !q_used(t, 0, &id, &len); i++) {
        if (i >= ms)
            return false;
        sleep_ms(1);
    }
    assert_true(id < VNUM);
    assert_true(len >= VSOCK_HDR_SIZE && len <= RXBUF_SIZE);
    vmm__device_lock(t->f->dev);
    memcpy(h, at(t->f, RXBUF(id), VSOCK_HDR_SIZE), VSOCK_HDR_SIZE);
    assert_int_equal(h->len, len - VSOCK_HDR_SIZE);
    if (data)
        memcpy(data, at(t->f, RXBUF(id) + VSOCK_HDR_SIZE, h->len), h->len < cap ? h->len : cap);
    memset(at(t->f, RXBUF(id), RXBUF_SIZE), 0xee, RXBUF_SIZE);
    vmm__device_unlock(t->f->dev);
    /* Every packet comes from the host to this guest, as a stream packet. */
    assert_int_equal(h->src_cid, VSOCK_HOST_CID);
    assert_int_equal(h->dst_cid, CID);
    assert_int_equal(h->type, 1);
    q_publish(t, 0, (uint16_t)id);
    notify(t->f, 0);
    return true;
}

static struct vsock_hdr rx_expect(struct vt *t, uint16_t op, void *data, size_t cap)
{
    struct vsock_hdr h;
    if (!rx_wait(t, &h, data, cap, SPIN_MS))
        fail_msg("no packet (op %u expected)", op);
    if (h.op != op)
        fail_msg("op %u, expected %u", h.op, op);
    return h;
}

static struct vsock_hdr rx_expect_any(struct vt *t)
{
    struct vsock_hdr h;
    if (!rx_wait(t, &h, NULL, 0, SPIN_MS))
        fail_msg("no packet");
    return h;
}

/* Nothing more on rx (after letting the I/O thread run a while). */
static void rx_quiet(struct vt *t)
{
    struct vsock_hdr h;
    if (rx_wait(t, &h, NULL, 0, 200))
        fail_msg("unexpected packet op %u %u -> %u", h.op, h.src_port, h.dst_port);
}

/* ---- the host programs ---- */

static int uds_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static int uds_listen(struct vt *t, uint32_t port)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    char p[160];
    snprintf(p, sizeof p, "%s_%u", t->path, port);
    assert_true(strlen(p) < sizeof a.sun_path);
    memcpy(a.sun_path, p, strlen(p) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

/* Read up to n bytes within the bound: the count (0 at EOF, -1 on error or
 * if nothing came). */
static ssize_t host_read(int fd, void *buf, size_t n)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, SPIN_MS) != 1)
        return -1;
    return read(fd, buf, n);
}

/* Read exactly n bytes. */
static void host_read_all(int fd, void *buf, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t k = host_read(fd, (uint8_t *)buf + done, n - done);
        if (k <= 0)
            fail_msg("host read: %zd after %zu of %zu bytes", k, done, n);
        done += (size_t)k;
    }
}

/* The device closed its end: EOF or a reset, within the bound. */
static void host_expect_closed(int fd)
{
    char b[64];
    ssize_t k;
    while ((k = host_read(fd, b, sizeof b)) > 0)
        ;
    if (k < 0 && errno != ECONNRESET)
        fail_msg("the device did not close the connection");
}

static void host_write(int fd, const void *p, size_t n)
{
    assert_int_equal(write(fd, p, n), (ssize_t)n);
}

/* Host-initiated: CONNECT to guest port; the guest answers RESPONSE from
 * gport; returns the host socket, *hport the device's host-side port. */
static int host_initiated(struct vt *t, uint32_t gport, uint32_t *hport)
{
    int fd = uds_connect(t->path);
    char line[32];
    snprintf(line, sizeof line, "CONNECT %u\n", gport);
    host_write(fd, line, strlen(line));
    struct vsock_hdr h = rx_expect(t, VSOCK_OP_REQUEST, NULL, 0);
    assert_int_equal(h.dst_port, gport);
    assert_true(h.src_port >= (1u << 30));
    assert_int_equal(h.buf_alloc, DEV_BUF);
    assert_int_equal(h.len, 0);
    *hport = h.src_port;
    tx(t, mk(VSOCK_OP_RESPONSE, gport, *hport), NULL, 0);
    char ok[32], want[32];
    int n = snprintf(want, sizeof want, "OK %u\n", *hport);
    host_read_all(fd, ok, (size_t)n);
    assert_memory_equal(ok, want, (size_t)n);
    return fd;
}

/* The host program closes connection gport <-> hport: the guest hears
 * SHUTDOWN (both directions, perhaps in two packets) and answers RST. */
static void host_close(struct vt *t, int fd, uint32_t gport, uint32_t hport)
{
    close(fd);
    uint32_t flags = 0;
    while (flags != (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) {
        struct vsock_hdr h = rx_expect(t, VSOCK_OP_SHUTDOWN, NULL, 0);
        assert_int_equal(h.src_port, hport);
        assert_int_equal(h.dst_port, gport);
        flags |= h.flags;
    }
    tx(t, mk(VSOCK_OP_RST, gport, hport), NULL, 0);
}

/* Guest-initiated: REQUEST from gport to the listener on hport; returns the
 * accepted host socket. */
static int guest_initiated(struct vt *t, int lfd, uint32_t gport, uint32_t hport,
                           uint32_t buf_alloc)
{
    struct vsock_hdr r = mk(VSOCK_OP_REQUEST, gport, hport);
    r.buf_alloc = buf_alloc;
    tx(t, r, NULL, 0);
    struct vsock_hdr h = rx_expect(t, VSOCK_OP_RESPONSE, NULL, 0);
    assert_int_equal(h.src_port, hport);
    assert_int_equal(h.dst_port, gport);
    assert_int_equal(h.buf_alloc, DEV_BUF);
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, SPIN_MS), 1);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

/* ---- tests ---- */

static void test_identity_and_config(void **st)
{
    struct vt *t = *st;
    struct fx *f = t->f;
    assert_int_equal(r32(f, R_MAGIC), MAGIC);
    assert_int_equal(r32(f, R_DEVICE_ID), 19);
    uint64_t offered = dev_features(f);
    assert_true(offered & F_VERSION_1);
    assert_true(offered & VSOCK_F_STREAM);
    assert_false(offered & (1ull << 1)); /* no SEQPACKET */
    assert_int_equal(r32(f, R_CONFIG), CID);
    assert_int_equal(r32(f, R_CONFIG + 4), 0);
    assert_int_equal(peek(f, R_CONFIG, 8), CID);
    poke(f, R_CONFIG, 77); /* read-only */
    assert_int_equal(r32(f, R_CONFIG), CID);
    struct stat sb;
    assert_int_equal(stat(t->path, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));

    /* Bad configurations. */
    char cfg[512];
    const struct {
        const char *keys;
        int rc;
    } bad[] = {
        {"\"uds_path\": \"%s/a\"", VMM_ECONFIG},                   /* no guest_cid */
        {"\"guest_cid\": 2, \"uds_path\": \"%s/a\"", VMM_ECONFIG}, /* the host's */
        {"\"guest_cid\": 4294967295, \"uds_path\": \"%s/a\"", VMM_ECONFIG},
        {"\"guest_cid\": 4294967296, \"uds_path\": \"%s/a\"", VMM_ECONFIG},
        {"\"guest_cid\": 3", VMM_ECONFIG}, /* no uds_path */
        {"\"guest_cid\": 3, \"uds_path\": 5", VMM_ECONFIG},
        {"\"guest_cid\": 3, \"uds_path\": \"\"", VMM_ECONFIG},
        {"\"guest_cid\": 3, \"uds_path\": \"%s/a\", \"port\": 1", VMM_ECONFIG},
        {"\"guest_cid\": 3, \"uds_path\": \"%s/missing/a\"", VMM_ENOENT},
        {"\"guest_cid\": 3, \"uds_path\": \"%s/v.sock\"", VMM_EEXIST}, /* the live one */
    };
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad); i++) {
        char keys[256];
        snprintf(keys, sizeof keys, bad[i].keys, t->dir);
        snprintf(cfg, sizeof cfg, "{\"mmio\": %llu, %s}", (unsigned long long)MMIO_BASE, keys);
        vmm_device *d = NULL;
        int rc = vmm__device_new("virtio-vsock", cfg, &fake_host, f, "v1", &d);
        if (rc != bad[i].rc)
            fail_msg("%s: %d, expected %d", cfg, rc, bad[i].rc);
        assert_null(d);
    }
    /* A failed create leaves no socket behind. */
    char a[128];
    snprintf(a, sizeof a, "%s/a", t->dir);
    assert_int_equal(stat(a, &sb), -1);
    /* "<uds_path>_<port>" must fit a socket address. */
    char longp[200];
    memset(longp, 'x', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    snprintf(cfg, sizeof cfg, "{\"mmio\": %llu, \"guest_cid\": 3, \"uds_path\": \"/tmp/%.100s\"}",
             (unsigned long long)MMIO_BASE, longp);
    vmm_device *d = NULL;
    assert_int_equal(vmm__device_new("virtio-vsock", cfg, &fake_host, f, "v1", &d), VMM_ECONFIG);
    /* The path is the device's: destroy removes it. */
    vmm__device_free(f->dev);
    f->dev = NULL;
    assert_int_equal(stat(t->path, &sb), -1);
    assert_int_equal(vs_attach_default(t), 0);
}

static void test_host_initiated(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    uint32_t hport;
    int fd = host_initiated(t, 1234, &hport);
    /* Host to guest. */
    host_write(fd, "hello", 5);
    char buf[64] = {0};
    struct vsock_hdr h = rx_expect(t, VSOCK_OP_RW, buf, sizeof buf);
    assert_int_equal(h.len, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(h.src_port, hport);
    assert_int_equal(h.dst_port, 1234);
    assert_int_equal(h.buf_alloc, DEV_BUF);
    /* Guest to host. */
    tx(t, mk(VSOCK_OP_RW, 1234, hport), "world!", 6);
    host_read_all(fd, buf, 6);
    assert_memory_equal(buf, "world!", 6);
    /* The host closes: the guest is told neither way carries more, and its
     * RST ends the connection. */
    host_close(t, fd, 1234, hport);
    rx_quiet(t);
    /* Gone: a packet for it now gets an RST. */
    tx(t, mk(VSOCK_OP_RW, 1234, hport), "x", 1);
    h = rx_expect(t, VSOCK_OP_RST, NULL, 0);
    assert_int_equal(h.src_port, hport);
    assert_int_equal(h.dst_port, 1234);

    /* Bytes sent right behind the CONNECT line are stream data, not lost. */
    fd = uds_connect(t->path);
    host_write(fd, "CONNECT 99\nearly", 16);
    h = rx_expect(t, VSOCK_OP_REQUEST, NULL, 0);
    assert_int_equal(h.dst_port, 99);
    assert_int_not_equal(h.src_port, hport); /* a fresh host-side port */
    tx(t, mk(VSOCK_OP_RESPONSE, 99, h.src_port), NULL, 0);
    h = rx_expect(t, VSOCK_OP_RW, buf, sizeof buf);
    assert_int_equal(h.len, 5);
    assert_memory_equal(buf, "early", 5);
    char ok[32];
    int n = snprintf(ok, sizeof ok, "OK %u\n", h.src_port);
    host_read_all(fd, buf, (size_t)n);
    assert_memory_equal(buf, ok, (size_t)n);
    close(fd);
}

/* Nobody listens on the guest port: the guest's RST closes the host socket. */
static void test_host_initiated_refused(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    int fd = uds_connect(t->path);
    host_write(fd, "CONNECT 4000\n", 13);
    struct vsock_hdr h = rx_expect(t, VSOCK_OP_REQUEST, NULL, 0);
    tx(t, mk(VSOCK_OP_RST, 4000, h.src_port), NULL, 0);
    host_expect_closed(fd);
    close(fd);
    rx_quiet(t);
}

static void test_bad_connect_lines(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    const char *bad[] = {
        "HELLO\n",
        "CONNECT \n",
        "CONNECT 12a\n",
        "CONNECT -1\n",
        "CONNECT 4294967296\n",
        "CONNECT 00000000001\n",
        "connect 5\n",
        "CONNECT 5 \n",
        "CONNECT 5\r\n",
        "CONNECT 12345678901234567890123456789\n",
        "CONNECT 111111111111111111111111111111111111111", /* over-long, no newline */
    };
    for (size_t i = 0; i < VMM__ARRAY_LEN(bad); i++) {
        int fd = uds_connect(t->path);
        host_write(fd, bad[i], strlen(bad[i]));
        host_expect_closed(fd);
        close(fd);
    }
    /* A host that hangs up before finishing its line. */
    int fd = uds_connect(t->path);
    host_write(fd, "CONN", 4);
    close(fd);
    /* None reached the guest; a good line still works. */
    rx_quiet(t);
    uint32_t hport;
    fd = host_initiated(t, 5, &hport);
    close(fd);
}

static void test_guest_initiated(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    int lfd = uds_listen(t, 5000);
    int fd = guest_initiated(t, lfd, 777, 5000, 65536);
    tx(t, mk(VSOCK_OP_RW, 777, 5000), "ping", 4);
    char buf[64];
    host_read_all(fd, buf, 4);
    assert_memory_equal(buf, "ping", 4);
    host_write(fd, "pong", 4);
    struct vsock_hdr h = rx_expect(t, VSOCK_OP_RW, buf, sizeof buf);
    assert_int_equal(h.src_port, 5000);
    assert_int_equal(h.dst_port, 777);
    assert_memory_equal(buf, "pong", 4);
    /* A clean close from the guest: SHUTDOWN both ways, the device's RST. */
    struct vsock_hdr s = mk(VSOCK_OP_SHUTDOWN, 777, 5000);
    s.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
    tx(t, s, NULL, 0);
    h = rx_expect(t, VSOCK_OP_RST, NULL, 0);
    assert_int_equal(h.src_port, 5000);
    assert_int_equal(h.dst_port, 777);
    host_expect_closed(fd);
    close(fd);
    /* The CREDIT_REQUEST of a gone connection gets an RST. */
    tx(t, mk(VSOCK_OP_CREDIT_REQUEST, 777, 5000), NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    close(lfd);
}

static void test_guest_initiated_missing(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    tx(t, mk(VSOCK_OP_REQUEST, 778, 5001), NULL, 0);
    struct vsock_hdr h = rx_expect(t, VSOCK_OP_RST, NULL, 0);
    assert_int_equal(h.src_port, 5001);
    assert_int_equal(h.dst_port, 778);
    /* A path that exists but is not listening is the same. */
    char p[160];
    snprintf(p, sizeof p, "%s_5002", t->path);
    int lfd = uds_listen(t, 5002);
    close(lfd); /* the socket file stays, nobody listens */
    tx(t, mk(VSOCK_OP_REQUEST, 778, 5002), NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    unlink(p);
    rx_quiet(t);
}

/* The device never sends more than the guest's credit, and goes on when the
 * guest frees buffer space. */
static void test_credit_to_guest(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    int lfd = uds_listen(t, 6000);
    int fd = guest_initiated(t, lfd, 800, 6000, 100);
    uint8_t data[300], got[300];
    for (unsigned int i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + 1);
    host_write(fd, data, sizeof data);
    size_t have = 0;
    struct vsock_hdr h;
    while (have < 100) {
        h = rx_expect(t, VSOCK_OP_RW, got + have, sizeof got - have);
        have += h.len;
        assert_true(have <= 100);
    }
    rx_quiet(t); /* no credit left */
    /* The guest consumed 100 bytes. */
    struct vsock_hdr u = mk(VSOCK_OP_CREDIT_UPDATE, 800, 6000);
    u.buf_alloc = 100;
    u.fwd_cnt = 100;
    tx(t, u, NULL, 0);
    while (have < 200) {
        h = rx_expect(t, VSOCK_OP_RW, got + have, sizeof got - have);
        have += h.len;
        assert_true(have <= 200);
    }
    rx_quiet(t);
    /* A bigger buffer; a hostile fwd_cnt beyond what was sent gives nothing. */
    u.buf_alloc = 1000;
    u.fwd_cnt = 5000;
    tx(t, u, NULL, 0);
    rx_quiet(t);
    u.fwd_cnt = 200;
    tx(t, u, NULL, 0);
    while (have < 300)
        have += rx_expect(t, VSOCK_OP_RW, got + have, sizeof got - have).len;
    assert_int_equal(have, 300);
    assert_memory_equal(got, data, 300);
    /* A CREDIT_REQUEST is answered with the device's credit. */
    tx(t, mk(VSOCK_OP_CREDIT_REQUEST, 800, 6000), NULL, 0);
    h = rx_expect(t, VSOCK_OP_CREDIT_UPDATE, NULL, 0);
    assert_int_equal(h.buf_alloc, DEV_BUF);
    assert_int_equal(h.fwd_cnt, 0);
    close(fd);
    close(lfd);
}

/* The guest must stay within the device's buffer; the bytes the UNIX side
 * has not taken yet stay bounded by it. */
static void test_credit_from_guest(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    int lfd = uds_listen(t, 6001);
    int fd = guest_initiated(t, lfd, 801, 6001, 65536);
    static uint8_t chunk[32768];
    for (unsigned int i = 0; i < sizeof chunk; i++)
        chunk[i] = (uint8_t)(i % 251);
    uint32_t sent = 0, fwd = 0, alloc = DEV_BUF;
    /* The host program reads nothing: send as the credit allows until it
     * stays exhausted. */
    for (int round = 0; round < 200; round++) {
        struct vsock_hdr h;
        while (rx_wait(t, &h, NULL, 0, sent - fwd >= alloc ? 100 : 0)) {
            assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
            assert_true(h.fwd_cnt - fwd <= sent - fwd); /* never more than was sent */
            fwd = h.fwd_cnt;
            alloc = h.buf_alloc;
        }
        uint32_t free_ = alloc - (sent - fwd);
        if (free_ == 0)
            break;
        uint32_t n = free_ < sizeof chunk ? free_ : (uint32_t)sizeof chunk;
        tx(t, mk(VSOCK_OP_RW, 801, 6001), chunk, n);
        sent += n;
    }
    assert_int_equal(sent - fwd, DEV_BUF);
    assert_true(sent > DEV_BUF); /* the socket took some */
    /* Beyond the credit by more than any progress the device has not told
     * yet (below a quarter of its buffer): the connection is reset. */
    tx(t, mk(VSOCK_OP_RW, 801, 6001), chunk, DEV_BUF / 4 + 1);
    struct vsock_hdr h;
    do
        h = rx_expect_any(t);
    while (h.op == VSOCK_OP_CREDIT_UPDATE);
    assert_int_equal(h.op, VSOCK_OP_RST);
    assert_int_equal(h.src_port, 6001);
    assert_int_equal(h.dst_port, 801);
    /* The host got at most what was sent within the credit, then EOF. */
    size_t total = 0;
    static uint8_t sink[65536];
    ssize_t k;
    while ((k = host_read(fd, sink, sizeof sink)) > 0)
        total += (size_t)k;
    assert_true(total >= fwd && total <= sent);
    close(fd);
    close(lfd);
}

/* Half-closes both ways (§5.10.6.5): each direction ends on its own. */
static void test_shutdown(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    int lfd = uds_listen(t, 7000);
    int fd = guest_initiated(t, lfd, 900, 7000, 65536);
    /* The guest sends no more: the host reads EOF but can still write. */
    struct vsock_hdr s = mk(VSOCK_OP_SHUTDOWN, 900, 7000);
    s.flags = VSOCK_SHUTDOWN_SEND;
    tx(t, s, NULL, 0);
    char buf[64];
    assert_int_equal(host_read(fd, buf, sizeof buf), 0);
    host_write(fd, "late", 4);
    struct vsock_hdr h = rx_expect(t, VSOCK_OP_RW, buf, sizeof buf);
    assert_memory_equal(buf, "late", 4);
    /* Data after its own SHUTDOWN(SEND) is a protocol error: reset. */
    tx(t, mk(VSOCK_OP_RW, 900, 7000), "x", 1);
    h = rx_expect(t, VSOCK_OP_RST, NULL, 0);
    assert_int_equal(h.dst_port, 900);
    host_expect_closed(fd);
    close(fd);

    /* The host half-closes: the guest hears SHUTDOWN(SEND) and can still
     * send; the host closing too ends it. */
    fd = guest_initiated(t, lfd, 901, 7000, 65536);
    shutdown(fd, SHUT_WR);
    h = rx_expect(t, VSOCK_OP_SHUTDOWN, NULL, 0);
    assert_int_equal(h.flags, VSOCK_SHUTDOWN_SEND);
    tx(t, mk(VSOCK_OP_RW, 901, 7000), "still", 5);
    host_read_all(fd, buf, 5);
    assert_memory_equal(buf, "still", 5);
    close(fd);
    h = rx_expect(t, VSOCK_OP_SHUTDOWN, NULL, 0);
    assert_int_equal(h.flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
    /* The guest's own SHUTDOWN completes the close with the device's RST. */
    s = mk(VSOCK_OP_SHUTDOWN, 901, 7000);
    s.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
    tx(t, s, NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    rx_quiet(t);

    /* The guest receives no more: the host's writes fail. */
    fd = guest_initiated(t, lfd, 902, 7000, 65536);
    s = mk(VSOCK_OP_SHUTDOWN, 902, 7000);
    s.flags = VSOCK_SHUTDOWN_RCV;
    tx(t, s, NULL, 0);
    rx_quiet(t);
    assert_int_equal(send(fd, "no", 2, MSG_NOSIGNAL), -1);
    assert_int_equal(errno, EPIPE);
    /* Data the guest sent before a full SHUTDOWN still reaches the host. */
    tx(t, mk(VSOCK_OP_RW, 902, 7000), "last", 4);
    s.flags = VSOCK_SHUTDOWN_SEND;
    tx(t, s, NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    host_read_all(fd, buf, 4);
    assert_memory_equal(buf, "last", 4);
    host_expect_closed(fd);
    close(fd);
    close(lfd);
}

/* The guest's RST drops the connection at once, without an answer. */
static void test_guest_rst(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    int lfd = uds_listen(t, 7100);
    int fd = guest_initiated(t, lfd, 910, 7100, 65536);
    tx(t, mk(VSOCK_OP_RST, 910, 7100), NULL, 0);
    host_expect_closed(fd);
    close(fd);
    rx_quiet(t);
    /* Host-initiated, established. */
    uint32_t hport;
    fd = host_initiated(t, 911, &hport);
    tx(t, mk(VSOCK_OP_RST, 911, hport), NULL, 0);
    host_expect_closed(fd);
    close(fd);
    rx_quiet(t);
    close(lfd);
}

/* Packets a hostile guest may send; each gets an RST or is dropped, the
 * device stays live, and other connections are unaffected. */
static void test_hostile_packets(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    int lfd = uds_listen(t, 7200);
    int fd = guest_initiated(t, lfd, 920, 7200, 65536);
    struct pollfd p = {.fd = lfd, .events = POLLIN};

    /* Wrong source or destination cid: dropped, nobody is connected. */
    struct vsock_hdr h = mk(VSOCK_OP_REQUEST, 921, 7200);
    h.src_cid = CID + 1;
    tx(t, h, NULL, 0);
    h = mk(VSOCK_OP_REQUEST, 921, 7200);
    h.src_cid = CID | (1ull << 32);
    tx(t, h, NULL, 0);
    h = mk(VSOCK_OP_REQUEST, 921, 7200);
    h.dst_cid = 1;
    tx(t, h, NULL, 0);
    h = mk(VSOCK_OP_REQUEST, 921, 7200);
    h.dst_cid = CID;
    tx(t, h, NULL, 0);
    rx_quiet(t);
    assert_int_equal(poll(&p, 1, 0), 0);

    /* Not a stream packet (§5.10.6.4): RST, no connection. */
    h = mk(VSOCK_OP_REQUEST, 921, 7200);
    h.type = 2;
    tx(t, h, NULL, 0);
    struct vsock_hdr r = rx_expect(t, VSOCK_OP_RST, NULL, 0);
    assert_int_equal(r.dst_port, 921);
    assert_int_equal(poll(&p, 1, 0), 0);

    /* Unknown operations, with no connection and on one. */
    tx(t, mk(99, 921, 7200), NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    tx(t, mk(VSOCK_OP_INVALID, 921, 7200), NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    /* Packets for unknown connections: RST; an RST gets no answer. */
    tx(t, mk(VSOCK_OP_RW, 921, 7200), "abc", 3);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    tx(t, mk(VSOCK_OP_SHUTDOWN, 921, 7200), NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    tx(t, mk(VSOCK_OP_RESPONSE, 921, 7200), NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    tx(t, mk(VSOCK_OP_CREDIT_UPDATE, 921, 7201), NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    tx(t, mk(VSOCK_OP_RST, 921, 7200), NULL, 0);
    rx_quiet(t);

    /* A header whose len is larger than the chain carries. */
    struct vsock_hdr big = mk(VSOCK_OP_RW, 920, 7200);
    big.len = 20;
    assert_int_equal(tx_raw(t, &big, "0123456789", 10), 0);
    r = rx_expect(t, VSOCK_OP_RST, NULL, 0);
    assert_int_equal(r.dst_port, 920);
    host_expect_closed(fd);
    close(fd);
    /* Beyond the packet limit, and 0xffffffff. */
    uint32_t lens[] = {(64u << 10) + 1, 0xffffffffu};
    for (size_t i = 0; i < VMM__ARRAY_LEN(lens); i++) {
        fd = guest_initiated(t, lfd, 922, 7200, 65536);
        big = mk(VSOCK_OP_RW, 922, 7200);
        big.len = lens[i];
        assert_int_equal(tx_raw(t, &big, "0123456789", 10), 0);
        rx_expect(t, VSOCK_OP_RST, NULL, 0);
        host_expect_closed(fd);
        close(fd);
    }
    /* An unknown op and an unexpected RESPONSE on a live connection. */
    fd = guest_initiated(t, lfd, 923, 7200, 65536);
    tx(t, mk(8, 923, 7200), NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    host_expect_closed(fd);
    close(fd);
    fd = guest_initiated(t, lfd, 924, 7200, 65536);
    tx(t, mk(VSOCK_OP_RESPONSE, 924, 7200), NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    host_expect_closed(fd);
    close(fd);
    /* A second REQUEST on a live flow resets it. */
    fd = guest_initiated(t, lfd, 925, 7200, 65536);
    tx(t, mk(VSOCK_OP_REQUEST, 925, 7200), NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    host_expect_closed(fd);
    close(fd);
    /* A RESPONSE from the guest before the device's REQUEST got there. */
    rx_quiet(t);

    /* A tx chain shorter than a header: handed back, nothing else. */
    memset(at(t->f, TXHDR, VSOCK_HDR_SIZE), 0, VSOCK_HDR_SIZE);
    desc_at(t->f, RINGS(1), 0, TXHDR, VSOCK_HDR_SIZE - 1, 0, 0);
    q_publish(t, 1, 0);
    notify(t->f, 1);
    uint32_t id, ul;
    assert_true(q_used(t, 1, &id, &ul));
    assert_int_equal(ul, 0);
    rx_quiet(t);

    /* Everything still works. */
    fd = guest_initiated(t, lfd, 926, 7200, 65536);
    tx(t, mk(VSOCK_OP_RW, 926, 7200), "fine", 4);
    char buf[8];
    host_read_all(fd, buf, 4);
    assert_memory_equal(buf, "fine", 4);
    assert_false(r32(t->f, R_STATUS) & S_NEEDS_RESET);
    close(fd);
    close(lfd);
}

/* Breaking the virtqueue rules sets NEEDS_RESET (§2.1.2); a reset recovers. */
static void test_queue_violations(void **st)
{
    struct vt *t = *st;
    for (int c = 0; c < 4; c++) {
        vs_start(t, c == 0 ? 8 : 0);
        if (c == 0) { /* a device-writable buffer on tx */
            struct vsock_hdr h = mk(VSOCK_OP_REQUEST, 1, 2);
            memcpy(at(t->f, TXHDR, VSOCK_HDR_SIZE), &h, VSOCK_HDR_SIZE);
            desc_at(t->f, RINGS(1), 0, TXHDR, VSOCK_HDR_SIZE, D_WRITE, 0);
            q_publish(t, 1, 0);
            notify(t->f, 1);
        } else { /* rx: readable, too small for header and data, outside RAM */
            static const struct {
                uint64_t addr;
                uint32_t len;
                uint16_t flags;
            } b[] = {{RXBUF(0), RXBUF_SIZE, 0},
                     {RXBUF(0), VSOCK_HDR_SIZE, D_WRITE},
                     {HOLE, 0x1000, D_WRITE}};
            desc_at(t->f, RINGS(0), 0, b[c - 1].addr, b[c - 1].len, b[c - 1].flags, 0);
            q_publish(t, 0, 0);
            notify(t->f, 0);
            /* a host connection needs the buffer for its REQUEST */
            int fd = uds_connect(t->path);
            host_write(fd, "CONNECT 1\n", 10);
            for (int i = 0; i < SPIN_MS && !(r32(t->f, R_STATUS) & S_NEEDS_RESET); i++)
                sleep_ms(1);
            close(fd);
        }
        uint32_t s = r32(t->f, R_STATUS);
        if (!(s & S_NEEDS_RESET))
            fail_msg("case %d: no NEEDS_RESET", c);
        assert_true(r32(t->f, R_ISR) & ISR_CONFIG);
        w32(t->f, R_STATUS, 0);
        assert_int_equal(r32(t->f, R_STATUS), 0);
    }
    /* Recovered. */
    vs_start(t, 8);
    int lfd = uds_listen(t, 7300);
    int fd = guest_initiated(t, lfd, 930, 7300, 65536);
    close(fd);
    close(lfd);
}

/* At most 32 connections: more are refused cleanly both ways, and a closed
 * one makes room. */
static void test_connection_cap(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    int fds[DEV_CONNS];
    for (unsigned int i = 0; i < DEV_CONNS; i++)
        fds[i] = uds_connect(t->path);
    /* Every slot holds a connection still writing its CONNECT line: the
     * next is accepted and closed at once. */
    int extra = uds_connect(t->path);
    host_expect_closed(extra);
    close(extra);
    int lfd = uds_listen(t, 7400);
    tx(t, mk(VSOCK_OP_REQUEST, 940, 7400), NULL, 0);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    /* One goes away (bounded retries: the device learns of it from its I/O
     * thread). */
    close(fds[0]);
    bool connected = false;
    for (int i = 0; i < 100 && !connected; i++) {
        struct vsock_hdr r = mk(VSOCK_OP_REQUEST, 940, 7400);
        tx(t, r, NULL, 0);
        struct vsock_hdr h = rx_expect_any(t);
        connected = h.op == VSOCK_OP_RESPONSE;
        if (!connected)
            sleep_ms(10);
    }
    assert_true(connected);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    close(fd);
    for (unsigned int i = 1; i < DEV_CONNS; i++)
        close(fds[i]);
    close(lfd);
}

/* A device reset closes every connection; the listener stays. */
static void test_reset_closes(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    int lfd = uds_listen(t, 7500);
    int a = guest_initiated(t, lfd, 950, 7500, 65536);
    uint32_t hport;
    int b = host_initiated(t, 951, &hport);
    int c = uds_connect(t->path); /* the guest has not answered yet */
    host_write(c, "CONNECT 954\n", 12);
    rx_expect(t, VSOCK_OP_REQUEST, NULL, 0);
    w32(t->f, R_STATUS, 0);
    host_expect_closed(a);
    host_expect_closed(b);
    host_expect_closed(c);
    close(a);
    close(b);
    close(c);
    /* The old flows are unknown now; new ones work. */
    vs_start(t, 8);
    tx(t, mk(VSOCK_OP_RW, 950, 7500), "x", 1);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    a = host_initiated(t, 952, &hport);
    host_close(t, a, 952, hport);
    /* vmm_device_reset() does the same. */
    a = guest_initiated(t, lfd, 953, 7500, 65536);
    assert_int_equal(vmm_device_reset(t->f->dev), 0);
    host_expect_closed(a);
    close(a);
    close(lfd);
}

/* A snapshot and a restore: every connection of now is closed on the host
 * side; the guest gets an RST for each flow it knew of at the snapshot (and
 * none for a flow made after it) and a TRANSPORT_RESET event; the queues
 * carry on from the snapshot's indices and new connections work. */
#define EVBUF 0x60000ull

static void test_snapshot_restore(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    desc_at(t->f, RINGS(2), 0, EVBUF, 4, D_WRITE, 0);
    memset(at(t->f, EVBUF, 4), 0xee, 4);
    q_publish(t, 2, 0);
    notify(t->f, 2);
    uint32_t id, len;
    assert_false(q_used(t, 2, &id, &len)); /* no event before a restore */
    int lfd = uds_listen(t, 7500);
    int a = guest_initiated(t, lfd, 950, 7500, 65536);

    size_t n;
    assert_int_equal(vmm_device_save(t->f->dev, NULL, 0, &n), 0);
    uint8_t *blob = malloc(n), *ram = malloc(RAM_SIZE);
    assert_non_null(blob);
    assert_non_null(ram);
    assert_int_equal(vmm_device_save(t->f->dev, blob, n, &n), 0);
    vmm__device_lock(t->f->dev);
    memcpy(ram, t->f->ram, RAM_SIZE);
    vmm__device_unlock(t->f->dev);
    struct vt saved = *t;

    uint32_t hport;
    int b = host_initiated(t, 951, &hport); /* after the snapshot */
    host_write(a, "late", 4);
    rx_expect(t, VSOCK_OP_RW, NULL, 0);

    vmm__device_lock(t->f->dev);
    memcpy(t->f->ram, ram, RAM_SIZE);
    memcpy(t->q, saved.q, sizeof t->q);
    vmm__device_unlock(t->f->dev);
    assert_int_equal(vmm_device_load(t->f->dev, blob, n), 0);
    assert_int_equal(r32(t->f, R_STATUS), S_LIVE);
    host_expect_closed(a);
    host_expect_closed(b);
    struct vsock_hdr h = rx_expect(t, VSOCK_OP_RST, NULL, 0);
    assert_int_equal(h.src_port, 7500);
    assert_int_equal(h.dst_port, 950);
    rx_quiet(t); /* no RST for the flow the guest never knew of */
    assert_true(q_used(t, 2, &id, &len));
    assert_int_equal(id, 0);
    assert_int_equal(len, 4);
    assert_int_equal(get32(t->f, EVBUF), 0); /* VIRTIO_VSOCK_EVENT_TRANSPORT_RESET */
    assert_true(r32(t->f, R_ISR) & ISR_USED);

    /* The old flow is gone for the device; new connections work. */
    tx(t, mk(VSOCK_OP_RW, 950, 7500), "x", 1);
    rx_expect(t, VSOCK_OP_RST, NULL, 0);
    int c = guest_initiated(t, lfd, 960, 7500, 65536);
    tx(t, mk(VSOCK_OP_RW, 960, 7500), "hi", 2);
    char got[2];
    host_read_all(c, got, 2);
    assert_memory_equal(got, "hi", 2);

    /* A state from a file is checked: a flow list longer than the device's
     * table, or bytes cut off, is refused and changes nothing. */
    uint8_t *bad = malloc(n);
    assert_non_null(bad);
    memcpy(bad, blob, n);
    size_t off = n - 4 - 8 * 1 - 4; /* the flow count: one flow, no RSTs */
    uint32_t k;
    memcpy(&k, bad + off, 4);
    assert_int_equal(k, 1);
    k = 33;
    memcpy(bad + off, &k, 4);
    assert_int_equal(vmm_device_load(t->f->dev, bad, n), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "flow list"));
    assert_int_equal(vmm_device_load(t->f->dev, blob, n - 1), VMM_EINVAL);
    tx(t, mk(VSOCK_OP_RW, 960, 7500), "ok", 2);
    host_read_all(c, got, 2);
    assert_memory_equal(got, "ok", 2);
    free(bad);
    close(a);
    close(b);
    close(c);
    close(lfd);
    free(blob);
    free(ram);
}

/* Destroying the device closes its connections and removes uds_path. */
static void test_destroy(void **st)
{
    struct vt *t = *st;
    vs_start(t, 8);
    int lfd = uds_listen(t, 7600);
    int a = guest_initiated(t, lfd, 960, 7600, 65536);
    uint32_t hport;
    int b = host_initiated(t, 961, &hport);
    vmm__device_free(t->f->dev);
    t->f->dev = NULL;
    host_expect_closed(a);
    host_expect_closed(b);
    struct stat sb;
    assert_int_equal(stat(t->path, &sb), -1);
    /* The test's own listener is not the device's to remove. */
    char p[160];
    snprintf(p, sizeof p, "%s_7600", t->path);
    assert_int_equal(stat(p, &sb), 0);
    close(a);
    close(b);
    close(lfd);
    assert_int_equal(vs_attach_default(t), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_identity_and_config, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_host_initiated, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_host_initiated_refused, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_bad_connect_lines, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_guest_initiated, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_guest_initiated_missing, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_credit_to_guest, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_credit_from_guest, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_guest_rst, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_hostile_packets, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_queue_violations, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_connection_cap, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_reset_closes, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_snapshot_restore, setup, teardown_vs),
        cmocka_unit_test_setup_teardown(test_destroy, setup, teardown_vs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
