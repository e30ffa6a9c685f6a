/* SPDX-License-Identifier: MIT */
/* virtio-vsock driven by a real guest driver (guest/virtio_vsock_drv.c, CPL3,
 * polling) through KVM, with host programs on UNIX sockets: the guest
 * connects out to a listener at <uds_path>_<port> and exchanges messages,
 * then a host program reaches the guest through uds_path with CONNECT and
 * gets its bytes echoed. The vCPU runs on its own thread meanwhile. */
#include "kvm_test.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "../../guest/virtio_vsock_drv.h"

#define WAIT_MS 20000 /* bound of every wait on the guest */

struct runner {
    struct tvm *t;
    int rc;
    vmm_exit exit;
};

static void *run_vcpu(void *arg)
{
    struct runner *r = arg;
    r->rc = vmm_vcpu_run(r->t->vcpu, &r->exit);
    return NULL;
}

static int unix_socket_at(const char *path, bool listen_on)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path)
        return -1;
    memcpy(a.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = listen_on ? bind(fd, (struct sockaddr *)&a, sizeof a)
                       : connect(fd, (struct sockaddr *)&a, sizeof a);
    if (rc == 0 && listen_on)
        rc = listen(fd, 4);
    if (rc < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read within the bound: the count, 0 at EOF, -1 on timeout or error. */
static ssize_t read_wait(int fd, void *buf, size_t n)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, WAIT_MS) != 1)
        return -1;
    return read(fd, buf, n);
}

static bool read_all(int fd, void *buf, size_t n)
{
    for (size_t done = 0; done < n;) {
        ssize_t k = read_wait(fd, (char *)buf + done, n - done);
        if (k <= 0)
            return false;
        done += (size_t)k;
    }
    return true;
}

/* The host programs' side of the conversation; NULL, or what went wrong. */
static const char *host_side(const char *uds, int lfd, uint32_t *ok_port)
{
    /* The guest connects to <uds>_VS_HOST_PORT. */
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, WAIT_MS) != 1)
        return "the guest did not connect";
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return "accept failed";
    char buf[128];
    const size_t glen = sizeof VS_GUEST_MSG - 1;
    if (!read_all(fd, buf, glen) || memcmp(buf, VS_GUEST_MSG, glen)) {
        close(fd);
        return "the guest's message did not arrive";
    }
    if (write(fd, VS_HOST_MSG, sizeof VS_HOST_MSG - 1) != (ssize_t)(sizeof VS_HOST_MSG - 1)) {
        close(fd);
        return "write to the guest failed";
    }
    /* The guest closes: EOF here. */
    ssize_t k = read_wait(fd, buf, sizeof buf);
    close(fd);
    if (k != 0)
        return "the guest's close did not reach the host";

    /* The host connects to the guest's VS_IN_PORT. */
    fd = unix_socket_at(uds, false);
    if (fd < 0)
        return "cannot connect to uds_path";
    char line[32];
    int n = snprintf(line, sizeof line, "CONNECT %u\n", VS_IN_PORT);
    if (write(fd, line, (size_t)n) != n) {
        close(fd);
        return "CONNECT write failed";
    }
    /* "OK <port>\n", byte by byte so nothing after it is consumed. */
    size_t len = 0;
    while (len < sizeof line - 1 && (len == 0 || line[len - 1] != '\n'))
        if (read_wait(fd, line + len, 1) != 1)
            break;
        else
            len++;
    line[len] = 0;
    unsigned int port;
    char nl;
    if (sscanf(line, "OK %u%c", &port, &nl) != 2 || nl != '\n') {
        close(fd);
        return "no OK line";
    }
    *ok_port = port;
    static const char ping[] = "ping over vsock";
    if (write(fd, ping, sizeof ping - 1) != (ssize_t)(sizeof ping - 1) ||
        !read_all(fd, buf, sizeof ping - 1) || memcmp(buf, ping, sizeof ping - 1)) {
        close(fd);
        return "no echo from the guest";
    }
    close(fd);
    return NULL;
}

static void test_guest_and_host_connections(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_vsock_kvm.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char uds[96], lpath[128];
    snprintf(uds, sizeof uds, "%s/v.sock", dir);
    snprintf(lpath, sizeof lpath, "%s_%u", uds, VS_HOST_PORT);
    int lfd = unix_socket_at(lpath, true);
    assert_true(lfd >= 0);

    struct tvm t;
    tvm_start(&t, "virtio_vsock_drv", VMM_X86_LONG, 3);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"size\": 4}", VS_EXIT_MMIO);
    expect_ok(vmm_device_attach(NULL, t.vm, "debug-exit", cfg), "debug-exit");
    snprintf(cfg, sizeof cfg, "{\"mmio\": %u, \"guest_cid\": %u, \"uds_path\": \"%s\"}", VS_MMIO,
             VS_CID, uds);
    expect_ok(vmm_device_attach(NULL, t.vm, "virtio-vsock", cfg), "virtio-vsock");

    struct runner r = {.t = &t, .rc = -1};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_vcpu, &r), 0);
    uint32_t ok_port = 0;
    const char *err = host_side(uds, lfd, &ok_port);
    if (err) /* the guest's waits are bounded too, but do not wait for them */
        vmm_vcpu_kick(t.vcpu);
    pthread_join(th, NULL);
    struct vs_io io;
    expect_ok(vmm_mem_read(t.vm, VS_IO, &io, sizeof io), "read results");
    if (err)
        fail_msg("%s (guest: exit %s, status %d, last op %u)", err,
                 vmm_exit_reason_name(r.exit.reason), r.exit.status.code, io.last_op);
    expect_ok(r.rc, "vmm_vcpu_run");
    assert_int_equal(r.exit.reason, VMM_EXIT_STATUS);
    assert_int_equal(r.exit.status.code, 0);
    assert_int_equal(io.cid, VS_CID);
    assert_int_equal(io.got_len, sizeof VS_HOST_MSG - 1);
    assert_memory_equal(io.got, VS_HOST_MSG, sizeof VS_HOST_MSG - 1);
    assert_int_equal(io.host_port, ok_port);
    assert_int_equal(io.echoed, sizeof "ping over vsock" - 1);

    struct stat sb;
    assert_int_equal(stat(uds, &sb), 0);
    tvm_stop(&t);
    assert_int_equal(stat(uds, &sb), -1); /* removed with the device */
    close(lfd);
    unlink(lpath);
    rmdir(dir);
}

/* From a JSON spec: uds_path is relative to the spec's directory. */
static void test_from_spec(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_vsock_spec.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char spec[1024], uds[96];
    snprintf(uds, sizeof uds, "%s/v.sock", dir);
    const char *fmt = "{\"memory\": {\"size\": \"2M\"},"
                      " \"cpu\": {\"mode\": \"long\", \"cpl\": 3, \"stack\": \"0x9000\"},"
                      " \"boot\": {\"kind\": \"flat\", \"path\": \"%s/virtio_vsock_drv.bin\"},"
                      " \"devices\": [{\"type\": \"virtio-vsock\", \"mmio\": %u,"
                      " \"guest_cid\": %s, \"uds_path\": \"v.sock\"}]}";
    snprintf(spec, sizeof spec, fmt, LIBVMM_GUEST_DIR, VS_MMIO, "3");
    expect_ok(vmm_spec_check(spec, strlen(spec), dir), "vmm_spec_check");
    struct stat sb;
    assert_int_equal(stat(uds, &sb), -1); /* the check leaves nothing behind */
    vmm_vm *vm;
    expect_ok(vmm_vm_create_from_spec(&vm, spec, strlen(spec), dir, NULL), "from spec");
    assert_int_equal(stat(uds, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    /* A second VM cannot take the same path. */
    vmm_vm *vm2 = NULL;
    assert_int_equal(vmm_vm_create_from_spec(&vm2, spec, strlen(spec), dir, NULL), VMM_ECONFIG);
    assert_null(vm2);
    assert_non_null(strstr(vmm_error_last()->message, "uds_path"));
    vmm_vm_destroy(vm);
    assert_int_equal(stat(uds, &sb), -1);
    /* A reserved cid is an error naming the key. */
    snprintf(spec, sizeof spec, fmt, LIBVMM_GUEST_DIR, VS_MMIO, "2");
    assert_int_equal(vmm_spec_check(spec, strlen(spec), dir), VMM_ECONFIG);
    assert_non_null(strstr(vmm_error_last()->message, "guest_cid"));
    rmdir(dir);
}

int main(void)
{
    require_kvm("test_virtio_vsock_kvm");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guest_and_host_connections),
        cmocka_unit_test(test_from_spec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
