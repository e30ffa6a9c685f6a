/* SPDX-License-Identifier: MIT */
/* A device's I/O thread: waits on the host file descriptors of its backend
 * (a TAP device, a socket, the console's input) and calls the device, with
 * the device lock held, when one is ready. Set-up and tear-down are the
 * device's create() and destroy(); the watched set changes under the device
 * lock, and every change wakes the thread so it polls the new set. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

struct vmm__io {
    vmm_device *dev;
    vmm__io_ready_fn fn;
    void *model;
    int wake; /* eventfd: a change of the watched set, or stop */
    bool stop, started;
    pthread_t thread;
    unsigned int n; /* guarded by the device lock, like the entries */
    struct {
        int fd;
        short events; /* 0: not watched now */
        vmm__io_ready_fn fn;
        void *model;
    } w[VMM__IO_MAX_FDS];
};

void vmm__device_lock(vmm_device *dev)
{
    pthread_mutex_lock(&dev->lock);
}

void vmm__device_unlock(vmm_device *dev)
{
    pthread_mutex_unlock(&dev->lock);
}

static void wake(struct vmm__io *io)
{
    uint64_t one = 1;
    /* A full counter still wakes the thread: nothing to do on EAGAIN. */
    while (write(io->wake, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

static void *io_main(void *arg)
{
    struct vmm__io *io = arg;
    struct pollfd p[VMM__IO_MAX_FDS + 1];
    unsigned int idx[VMM__IO_MAX_FDS + 1];
    for (;;) {
        unsigned int n = 0;
        vmm__device_lock(io->dev);
        bool stop = io->stop;
        for (unsigned int i = 0; i < io->n; i++) {
            if (io->w[i].fd >= 0 && io->w[i].events) {
                p[n] = (struct pollfd){.fd = io->w[i].fd, .events = io->w[i].events};
                idx[n++] = i;
            }
        }
        vmm__device_unlock(io->dev);
        if (stop)
            return NULL;
        p[n] = (struct pollfd){.fd = io->wake, .events = POLLIN};
        if (poll(p, n + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            vmm_device_log_limited(io->dev, VMM_LOG_ERROR, "I/O thread: poll: %s", strerror(errno));
            usleep(10000); /* never spin on a persistent error */
            continue;
        }
        if (p[n].revents) {
            uint64_t v;
            if (read(io->wake, &v, sizeof v) < 0 && errno != EAGAIN)
                usleep(1000);
        }
        vmm__device_lock(io->dev);
        for (unsigned int k = 0; k < n && !io->stop; k++) {
            unsigned int i = idx[k];
            /* The set may have changed while polling: serve only what is still
             * watched for the events seen. */
            short ev = p[k].revents & (io->w[i].events | POLLERR | POLLHUP | POLLNVAL);
            if (ev && io->w[i].fd == p[k].fd && io->w[i].events)
                io->w[i].fn(io->w[i].model, i, ev);
        }
        vmm__device_unlock(io->dev);
    }
}

int vmm__io_new(vmm_device *dev, vmm__io_ready_fn fn, void *model, struct vmm__io **out)
{
    struct vmm__io *io = calloc(1, sizeof *io);
    if (!io)
        return VMM_ENOMEM;
    io->dev = dev;
    io->fn = fn;
    io->model = model;
    io->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (io->wake < 0) {
        free(io);
        vmm_device_error(dev, "eventfd: %s", strerror(errno));
        return VMM_EIO;
    }
    *out = io;
    return 0;
}

int vmm__io_add(struct vmm__io *io, int fd, short events)
{
    return vmm__io_add_fn(io, fd, events, io->fn, io->model);
}

int vmm__io_add_fn(struct vmm__io *io, int fd, short events, vmm__io_ready_fn fn, void *model)
{
    if (!fn)
        return VMM_EINVAL;
    if (io->n == VMM__IO_MAX_FDS)
        return VMM_E2BIG;
    io->w[io->n].fd = fd;
    io->w[io->n].events = events;
    io->w[io->n].fn = fn;
    io->w[io->n].model = model;
    if (io->started)
        wake(io);
    return (int)io->n++;
}

void vmm__io_set(struct vmm__io *io, unsigned int i, int fd, short events)
{
    if (i >= io->n || (io->w[i].fd == fd && io->w[i].events == events))
        return;
    io->w[i].fd = fd;
    io->w[i].events = events;
    if (io->started)
        wake(io);
}

int vmm__io_start(struct vmm__io *io)
{
    int rc = pthread_create(&io->thread, NULL, io_main, io);
    if (rc) {
        vmm_device_error(io->dev, "cannot start the I/O thread: %s", strerror(rc));
        return VMM_ENOMEM;
    }
    io->started = true;
    return 0;
}

void vmm__io_free(struct vmm__io *io)
{
    if (!io)
        return;
    if (io->started) {
        vmm__device_lock(io->dev);
        io->stop = true;
        wake(io);
        vmm__device_unlock(io->dev);
        pthread_join(io->thread, NULL);
    }
    close(io->wake);
    free(io);
}
