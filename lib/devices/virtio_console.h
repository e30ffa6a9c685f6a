/* SPDX-License-Identifier: MIT */
/* virtio-console's state, shared by the device model (virtio_console.c) and
 * its host side, output to and input from descriptors (virtio_console_host.c). */
#ifndef LIBVMM_DEVICES_VIRTIO_CONSOLE_H
#define LIBVMM_DEVICES_VIRTIO_CONSOLE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../virtio/virtio.h"

enum { F_SIZE = 1u << 0, F_EMERG_WRITE = 1u << 2 };
enum { RXQ = 0, TXQ = 1 };
enum backend { B_CALLBACK, B_STDIO, B_FD };

#define CONFIG_SIZE 12u /* cols u16, rows u16, max_nr_ports u32, emerg_wr u32 */
#define EMERG_WR    8u
#define BOUNCE      (64u << 10)

struct console {
    struct vmm__virtio t; /* first: vmm__virtio_dev_read() and friends rely on it */
    enum backend backend;
    int in_fd, out_fd; /* -1: none; the embedder's (or 0/1), never closed here */
    uint16_t cols, rows;
    vmm_console_output_fn out_fn;
    void *out_opaque;
    /* The I/O thread (stdio and fd backends) and its entries (-1: none). */
    struct vmm__io *io;
    int io_in, io_out;
    bool in_done; /* in_fd reached EOF or failed: no longer watched */
    /* A transmit chain whose bytes out_fd has not all taken yet, and the
     * queue it came from (a re-programmed queue makes it stale). */
    bool tx_held;
    uint64_t tx_off;
    struct vmm__vq tx_q;
    struct vmm__vq_chain tx_chain;
    /* After a restore: bytes of the next transmit chain already written out
     * before the snapshot (it was held then), skipped when it is taken. */
    uint64_t tx_resume;
    struct vmm__vq_chain rx_chain; /* the receive chain being filled (device lock) */
    uint64_t dropped;              /* output bytes nobody took */
    uint8_t buf[BOUNCE];
};

static inline bool vmm__con_live(const struct console *c, unsigned int q)
{
    return (c->t.status & VMM__VIRTIO_S_DRIVER_OK) && !c->t.broken && c->t.q[q].ready;
}

static inline void vmm__con_drop(struct console *c, uint64_t n, const char *why)
{
    c->dropped += n;
    vmm_device_log_limited(c->t.dev, VMM_LOG_DEBUG, "%llu output bytes dropped (%s); %llu in all",
                           (unsigned long long)n, why, (unsigned long long)c->dropped);
}

/* Keep a write to a pipe whose reader is gone from raising SIGPIPE in the
 * embedder's process: block it around the writes, then take one our writes
 * left pending (and only ours: one that was pending before stays). */
struct pipe_guard {
    sigset_t old;
    bool armed, was_pending;
};

VMM__HIDDEN void vmm__con_guard_begin(struct pipe_guard *g);
VMM__HIDDEN void vmm__con_guard_end(struct pipe_guard *g);
/* Write up to n bytes to out_fd without blocking (see virtio_console_host.c). */
VMM__HIDDEN ssize_t vmm__con_out_write(struct console *c, const uint8_t *p, size_t n, bool careful);
/* How to write to fd: careful (a blocking pipe), guard (against SIGPIPE). */
VMM__HIDDEN void vmm__con_out_kind(int fd, bool *careful, bool *guard);
/* Serve the transmitq (the notifying vCPU thread, or the I/O thread resuming). */
VMM__HIDDEN int vmm__con_tx_run(struct console *c);
/* Watch out_fd for room (on) or stop. */
VMM__HIDDEN void vmm__con_watch_out(struct console *c, bool on);
/* Watch in_fd while the driver has receive buffers posted. */
VMM__HIDDEN void vmm__con_rx_arm(struct console *c);
/* Take the next receive chain: 1, 0 when none is posted, <0 after a
 * violation (the device is then in NEEDS_RESET). */
VMM__HIDDEN int vmm__con_rx_pop(struct console *c, struct vmm__vq_chain *ch);
/* The I/O thread's callback. */
VMM__HIDDEN void vmm__con_on_ready(void *model, unsigned int idx, short revents);

#endif
