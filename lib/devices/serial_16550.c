/* SPDX-License-Identifier: MIT */
/* 16550A UART ("serial"): the registers a PC COM port exposes, with a receive
 * FIFO fed by the embedder and output to an fd or a callback. Baud-rate timing
 * is not modelled: a byte written to THR is transmitted at once. */
#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builtin.h"

/* Register offsets (DLAB selects the divisor latch at 0 and 1). */
enum { RBR_THR = 0, IER = 1, IIR_FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

#define IER_RDA      0x01 /* received data available */
#define IER_THRE     0x02 /* transmitter holding register empty */
#define IER_RLS      0x04 /* receiver line status */
#define IER_MS       0x08 /* modem status */
#define IIR_NONE     0x01
#define IIR_MS       0x00
#define IIR_THRE     0x02
#define IIR_RDA      0x04
#define IIR_RLS      0x06
#define IIR_FIFO     0xc0
#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB     0x80
#define MCR_LOOP     0x10
#define LSR_DR       0x01
#define LSR_OE       0x02
#define LSR_THRE     0x20
#define LSR_TEMT     0x40
#define MSR_CTS      0x10
#define MSR_DSR      0x20
#define MSR_DCD      0x80

#define RX_FIFO 1024

struct serial {
    vmm_device *dev;
    int fd;
    unsigned int irq;
    vmm_serial_output_fn out_fn;
    void *out_opaque;
    /* registers */
    uint8_t dll, dlm, ier, fcr, lcr, mcr, lsr, msr, scr;
    bool thre_pending; /* THRE interrupt latched, cleared by reading IIR or writing THR */
    int irq_level;
    /* receive FIFO (ring) */
    uint8_t rx[RX_FIFO];
    unsigned int rx_head, rx_count;
    vmm_serial_stats stats;
};

static uint8_t iir(const struct serial *s)
{
    uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;
    if ((s->ier & IER_RLS) && (s->lsr & LSR_OE))
        return IIR_RLS | fifo;
    if ((s->ier & IER_RDA) && s->rx_count)
        return IIR_RDA | fifo;
    if ((s->ier & IER_THRE) && s->thre_pending)
        return IIR_THRE | fifo;
    if ((s->ier & IER_MS) && (s->msr & 0x0f))
        return IIR_MS | fifo;
    return IIR_NONE | fifo;
}

static void update_irq(struct serial *s)
{
    int level = (iir(s) & IIR_NONE) ? 0 : 1;
    if (level != s->irq_level) {
        s->irq_level = level;
        /* Without an in-kernel irqchip there is no line to drive; the guest polls. */
        vmm_device_set_irq(s->dev, s->irq, level);
    }
}

static void rx_push(struct serial *s, uint8_t c)
{
    if (s->rx_count == RX_FIFO) {
        s->lsr |= LSR_OE;
        return;
    }
    s->rx[(s->rx_head + s->rx_count) % RX_FIFO] = c;
    s->rx_count++;
    s->lsr |= LSR_DR;
}

static void transmit(struct serial *s, uint8_t c)
{
    s->stats.tx_bytes++;
    if (s->mcr & MCR_LOOP) {
        rx_push(s, c);
        return;
    }
    if (s->out_fn)
        s->out_fn(s->out_opaque, &c, 1);
    if (s->fd >= 0) {
        /* Never block the vCPU (it holds this device's lock and could not be
         * stopped): a byte the fd cannot take now is dropped and counted. */
        struct pollfd p = {s->fd, POLLOUT, 0};
        ssize_t n = -1;
        if (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT)) {
            do
                n = write(s->fd, &c, 1);
            while (n < 0 && errno == EINTR);
        }
        if (n != 1)
            s->stats.tx_dropped++;
    } else if (!s->out_fn) {
        s->stats.tx_dropped++;
    }
}

static void reset_regs(struct serial *s)
{
    s->dll = 12; /* 9600 baud with the 1.8432 MHz clock */
    s->dlm = 0;
    s->ier = 0;
    s->fcr = 0;
    s->lcr = 0x03;
    s->mcr = 0;
    s->lsr = LSR_THRE | LSR_TEMT;
    s->msr = MSR_CTS | MSR_DSR | MSR_DCD;
    s->scr = 0;
    s->thre_pending = false;
    s->rx_head = s->rx_count = 0;
}

static int serial_read(void *state, unsigned int range, uint64_t off, void *data, unsigned int size)
{
    struct serial *s = state;
    (void)range;
    /* Registers are bytes; a wider access reads the byte at off and zeroes the rest. */
    memset(data, 0, size);
    uint8_t *v = data;
    switch (off) {
    case RBR_THR:
        if (s->lcr & LCR_DLAB) {
            *v = s->dll;
        } else if (s->rx_count) {
            *v = s->rx[s->rx_head];
            s->rx_head = (s->rx_head + 1) % RX_FIFO;
            s->rx_count--;
            s->stats.rx_bytes++;
            if (!s->rx_count)
                s->lsr &= (uint8_t)~LSR_DR;
        }
        break;
    case IER:
        *v = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
        break;
    case IIR_FCR:
        *v = iir(s);
        if ((*v & 0x0f) == IIR_THRE)
            s->thre_pending = false;
        break;
    case LCR:
        *v = s->lcr;
        break;
    case MCR:
        *v = s->mcr;
        break;
    case LSR:
        *v = s->lsr;
        s->lsr &= (uint8_t)~LSR_OE; /* overrun is cleared by reading LSR */
        break;
    case MSR:
        if (s->mcr & MCR_LOOP) /* loopback: modem outputs feed the inputs */
            *v =
                (uint8_t)(((s->mcr & 0x0c) << 4) | ((s->mcr & 0x01) << 5) | ((s->mcr & 0x02) << 3));
        else
            *v = s->msr;
        s->msr &= 0xf0; /* delta bits clear on read */
        break;
    case SCR:
        *v = s->scr;
        break;
    default:
        return VMM_ERANGE;
    }
    update_irq(s);
    return 0;
}

static int serial_write(void *state, unsigned int range, uint64_t off, const void *data,
                        unsigned int size)
{
    struct serial *s = state;
    (void)range;
    (void)size;
    uint8_t v = *(const uint8_t *)data; /* the low byte, whatever the access width */
    switch (off) {
    case RBR_THR:
        if (s->lcr & LCR_DLAB) {
            s->dll = v;
        } else {
            transmit(s, v);
            /* The byte left at once: THR is empty again. */
            s->thre_pending = true;
        }
        break;
    case IER:
        if (s->lcr & LCR_DLAB) {
            s->dlm = v;
        } else {
            bool thre_was_off = !(s->ier & IER_THRE);
            s->ier = v & 0x0f;
            /* Enabling THRE with THR empty raises the interrupt at once, as on real parts. */
            if (thre_was_off && (s->ier & IER_THRE))
                s->thre_pending = true;
        }
        break;
    case IIR_FCR:
        s->fcr = v & 0xc9;
        if (v & FCR_CLEAR_RX) {
            s->rx_head = s->rx_count = 0;
            s->lsr &= (uint8_t)~LSR_DR;
        }
        break;
    case LCR:
        s->lcr = v;
        break;
    case MCR:
        s->mcr = v & 0x1f;
        break;
    case LSR:
    case MSR:
        break; /* read-only; writes are ignored as on hardware */
    case SCR:
        s->scr = v;
        break;
    default:
        return VMM_ERANGE;
    }
    update_irq(s);
    return 0;
}

static const char *const serial_keys[] = {"port", "mmio", "irq", "fd", NULL};

static int serial_create(vmm_device *dev, struct json_object *cfg, void **state)
{
    int rc = vmm__cfg_keys(dev, cfg, serial_keys);
    if (rc < 0)
        return rc;
    uint64_t base, irq, fd;
    vmm_space space;
    if (vmm__cfg_place(dev, cfg, 0x3f8, 8, &space, &base) < 0 ||
        vmm__cfg_u64(dev, cfg, "irq", 0, 23, 4, &irq) < 0 ||
        vmm__cfg_u64(dev, cfg, "fd", 0, INT32_MAX, UINT64_MAX, &fd) < 0) {
        return VMM_ECONFIG;
    }
    struct serial *s = calloc(1, sizeof *s);
    if (!s)
        return VMM_ENOMEM;
    s->dev = dev;
    s->fd = fd == UINT64_MAX ? -1 : (int)fd;
    s->irq = (unsigned int)irq;
    reset_regs(s);
    if ((rc = vmm_device_claim(dev, space, base, 8)) < 0) {
        free(s);
        return rc;
    }
    *state = s;
    return 0;
}

static void serial_reset(void *state)
{
    struct serial *s = state;
    reset_regs(s);
    update_irq(s);
}

/* Saved state: a version byte, the registers, then the receive FIFO. */
#define SAVE_VERSION 1
#define SAVE_HDR     16

static int serial_save(void *state, void *buf, size_t cap, size_t *len)
{
    struct serial *s = state;
    size_t need = SAVE_HDR + s->rx_count;
    *len = need;
    if (!buf)
        return 0;
    if (cap < need)
        return VMM_ERANGE;
    uint8_t *b = buf;
    uint8_t hdr[SAVE_HDR] = {SAVE_VERSION,
                             s->dll,
                             s->dlm,
                             s->ier,
                             s->fcr,
                             s->lcr,
                             s->mcr,
                             s->lsr,
                             s->msr,
                             s->scr,
                             s->thre_pending,
                             (uint8_t)(s->rx_count & 0xff),
                             (uint8_t)(s->rx_count >> 8)};
    memcpy(b, hdr, SAVE_HDR);
    for (unsigned int i = 0; i < s->rx_count; i++)
        b[SAVE_HDR + i] = s->rx[(s->rx_head + i) % RX_FIFO];
    return 0;
}

static int serial_load(void *state, const void *buf, size_t len)
{
    struct serial *s = state;
    const uint8_t *b = buf;
    if (len < SAVE_HDR || b[0] != SAVE_VERSION) {
        vmm_device_error(s->dev, "saved state has the wrong size or version");
        return VMM_EINVAL;
    }
    unsigned int n = b[11] | (unsigned int)b[12] << 8;
    if (n > RX_FIFO || len != SAVE_HDR + n) {
        vmm_device_error(s->dev, "saved receive FIFO length %u does not match %zu bytes", n, len);
        return VMM_EINVAL;
    }
    s->dll = b[1];
    s->dlm = b[2];
    s->ier = b[3] & 0x0f;
    s->fcr = b[4] & 0xc9;
    s->lcr = b[5];
    s->mcr = b[6] & 0x1f;
    /* Derived bits follow the restored FIFO, not the file: data ready iff bytes
     * wait, and the transmitter is always empty (bytes leave at once). */
    s->lsr = (uint8_t)((b[7] & ~LSR_DR) | LSR_THRE | LSR_TEMT | (n ? LSR_DR : 0));
    s->msr = b[8];
    s->scr = b[9];
    s->thre_pending = b[10] != 0;
    s->rx_head = 0;
    s->rx_count = n;
    memcpy(s->rx, b + SAVE_HDR, n);
    update_irq(s);
    return 0;
}

static void serial_destroy(void *state)
{
    free(state);
}

const vmm_device_ops vmm__serial_ops = {
    .version = VMM_DEVICE_OPS_VERSION,
    .name = "serial",
    .create = vmm__builtin_create,
    .read = serial_read,
    .write = serial_write,
    .reset = serial_reset,
    .save = serial_save,
    .load = serial_load,
    .destroy = serial_destroy,
};

const struct vmm__device_type vmm__serial_type = {
    .ops = &vmm__serial_ops,
    .create = serial_create,
};

static struct serial *as_serial(vmm_device *dev)
{
    return dev && vmm_device_type(dev) == &vmm__serial_ops ? vmm_device_state(dev) : NULL;
}

int vmm_serial_set_output(vmm_device *dev, vmm_serial_output_fn fn, void *opaque)
{
    struct serial *s = as_serial(dev);
    if (!s)
        return vmm__err(VMM_EINVAL, "vmm_serial_set_output: not a serial device");
    vmm__device_lock(dev);
    s->out_fn = fn;
    s->out_opaque = opaque;
    vmm__device_unlock(dev);
    return 0;
}

int vmm_serial_input(vmm_device *dev, const void *buf, size_t len)
{
    struct serial *s = as_serial(dev);
    if (!s || (!buf && len))
        return vmm__err(VMM_EINVAL, "vmm_serial_input: not a serial device or NULL buffer");
    vmm__device_lock(dev);
    size_t n = 0;
    for (; n < len && s->rx_count < RX_FIFO; n++)
        rx_push(s, ((const uint8_t *)buf)[n]);
    update_irq(s);
    vmm__device_unlock(dev);
    return (int)(n > INT32_MAX ? INT32_MAX : n);
}

int vmm_serial_get_stats(vmm_device *dev, vmm_serial_stats *stats)
{
    struct serial *s = as_serial(dev);
    if (!s || !stats)
        return vmm__err(VMM_EINVAL, "vmm_serial_get_stats: not a serial device or NULL");
    vmm__device_lock(dev);
    *stats = s->stats;
    vmm__device_unlock(dev);
    return 0;
}
