/* SPDX-License-Identifier: MIT */
/* virtio-blk (virtio 1.2 §5.2) over a file: read, write, flush, get-id,
 * discard and write-zeroes, optionally read-only. Requests are served on the
 * vCPU thread that notified, through a bounded bounce buffer. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../virtio/virtio.h"
#include "builtin.h"

enum {
    F_SEG_MAX = 1u << 2,
    F_RO = 1u << 5,
    F_BLK_SIZE = 1u << 6,
    F_FLUSH = 1u << 9,
    F_DISCARD = 1u << 13,
    F_WRITE_ZEROES = 1u << 14,
};
enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11, T_WRITE_ZEROES = 13 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2 };

#define SECTOR      512ull
#define SEG_MAX     126u
#define BOUNCE      (64u << 10)
#define MAX_RANGES  64u /* discard / write-zeroes segments per request */
#define CONFIG_SIZE 60u

struct blk {
    struct vmm__virtio t; /* first: vmm__virtio_dev_read() and friends rely on it */
    int fd;
    bool readonly;
    uint64_t sectors;
    char serial[20];
    uint8_t config[CONFIG_SIZE];
    uint8_t bounce[BOUNCE];
};

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void blk_config_read(void *model, uint32_t off, void *data, unsigned int size)
{
    memcpy(data, ((struct blk *)model)->config + off, size);
}

/* Whether [sector, sector + bytes/512) lies on the disk, without overflow. */
static bool in_disk(const struct blk *b, uint64_t sector, uint64_t bytes)
{
    uint64_t n = bytes / SECTOR;
    return sector <= b->sectors && n <= b->sectors - sector;
}

/* pwrite all n bytes at pos: 0, or -1. */
static int write_all(int fd, const uint8_t *p, size_t n, uint64_t pos)
{
    for (size_t done = 0; done < n;) {
        ssize_t k = pwrite(fd, p + done, n - done, (off_t)(pos + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    return 0;
}

/* Move data between the file at byte offset pos and the chain (from chain
 * offset coff), BOUNCE bytes at a time. */
static int transfer(struct blk *b, const struct vmm__vq_chain *c, bool to_guest, uint64_t pos,
                    uint64_t coff, uint64_t len)
{
    while (len) {
        size_t n = len < BOUNCE ? (size_t)len : BOUNCE;
        if (to_guest) {
            ssize_t k = pread(b->fd, b->bounce, n, (off_t)pos);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                return S_IOERR;
            if ((size_t)k < n) /* a file shrunk under us reads as zeros */
                memset(b->bounce + k, 0, n - (size_t)k);
            if (vmm__vq_write(b->t.dev, c, coff, b->bounce, n) < 0)
                return S_IOERR;
        } else {
            if (vmm__vq_read(b->t.dev, c, coff, b->bounce, n) < 0)
                return S_IOERR;
            if (write_all(b->fd, b->bounce, n, pos) < 0)
                return S_IOERR;
        }
        pos += n;
        coff += n;
        len -= n;
    }
    return S_OK;
}

/* DISCARD and WRITE_ZEROES: segments of {sector u64, num_sectors u32, flags u32}. */
static int ranges(struct blk *b, const struct vmm__vq_chain *c, uint64_t data, bool zero)
{
    if (b->readonly)
        return S_IOERR;
    if (data == 0 || data % 16 || data / 16 > MAX_RANGES)
        return S_IOERR;
    for (uint64_t i = 0; i < data / 16; i++) {
        struct {
            uint64_t sector;
            uint32_t num, flags;
        } r;
        if (vmm__vq_read(b->t.dev, c, 16 + i * 16, &r, sizeof r) < 0)
            return S_IOERR;
        /* §5.2.6.2: unknown flags, or "unmap" on a discard, are UNSUPP. */
        if ((r.flags & ~1u) || (!zero && r.flags))
            return S_UNSUPP;
        if (!in_disk(b, r.sector, (uint64_t)r.num * SECTOR))
            return S_IOERR;
        off_t pos = (off_t)(r.sector * SECTOR), len = (off_t)((uint64_t)r.num * SECTOR);
        if (len == 0)
            continue;
        int mode = zero ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
        if (fallocate(b->fd, mode, pos, len) < 0) {
            if (!zero)
                continue; /* discard is a hint; a file system without holes keeps the data */
            memset(b->bounce, 0, BOUNCE);
            for (off_t done = 0; done < len;) {
                size_t n = len - done < (off_t)BOUNCE ? (size_t)(len - done) : BOUNCE;
                if (write_all(b->fd, b->bounce, n, (uint64_t)(pos + done)) < 0)
                    return S_IOERR;
                done += (off_t)n;
            }
        }
    }
    return S_OK;
}

/* One request (§5.2.6): a 16-byte header the device reads, data, and a
 * status byte, the chain's last writable byte. Returns the bytes written
 * into the chain, or <0 when the chain cannot even carry a status. */
static int64_t request(struct blk *b, const struct vmm__vq_chain *c)
{
    struct {
        uint32_t type, reserved;
        uint64_t sector;
    } h;
    if (c->writable < 1)
        return VMM_EINVAL;
    uint64_t status_at = c->writable - 1; /* offset among the writable bytes */
    uint8_t st = S_IOERR;
    uint64_t written = 1;
    /* The status byte must be writable before anything touches the disk. */
    if (vmm__vq_write(b->t.dev, c, status_at, &st, 1) < 0)
        return VMM_EFAULT;
    if (c->readable < sizeof h || vmm__vq_read(b->t.dev, c, 0, &h, sizeof h) < 0)
        goto done;
    uint64_t in_data = status_at, out_data = c->readable - sizeof h;
    switch (h.type) {
    case T_IN:
        if (in_data % SECTOR || !in_disk(b, h.sector, in_data))
            break;
        st = (uint8_t)transfer(b, c, true, h.sector * SECTOR, 0, in_data);
        if (st == S_OK)
            written += in_data;
        break;
    case T_OUT:
        if (b->readonly || out_data % SECTOR || !in_disk(b, h.sector, out_data))
            break;
        st = (uint8_t)transfer(b, c, false, h.sector * SECTOR, sizeof h, out_data);
        break;
    case T_FLUSH:
        st = fdatasync(b->fd) == 0 ? S_OK : S_IOERR;
        break;
    case T_GET_ID: {
        size_t n = in_data < sizeof b->serial ? (size_t)in_data : sizeof b->serial;
        st = vmm__vq_write(b->t.dev, c, 0, b->serial, n) == 0 ? S_OK : S_IOERR;
        if (st == S_OK)
            written += n;
        break;
    }
    case T_DISCARD:
    case T_WRITE_ZEROES:
        st = (uint8_t)ranges(b, c, out_data, h.type == T_WRITE_ZEROES);
        break;
    default:
        st = S_UNSUPP;
        break;
    }
done:
    if (vmm__vq_write(b->t.dev, c, status_at, &st, 1) < 0)
        return VMM_EFAULT;
    return (int64_t)written;
}

static int64_t blk_serve(void *model, const struct vmm__vq_chain *c, const char **why)
{
    int64_t w = request(model, c);
    if (w < 0)
        *why = "request without a writable status byte in RAM";
    return w;
}

static int blk_notify(void *model, struct vmm__virtio *t, unsigned int q)
{
    (void)model;
    return vmm__virtio_serve(t, q, blk_serve);
}

static void blk_destroy(void *model)
{
    struct blk *b = model;
    if (b->fd >= 0)
        close(b->fd);
    free(b);
}

/* Saved state: the transport's, then the disk's size in sectors (u64) and
 * whether it is read-only (u8, 7 bytes of padding). The guest has read both,
 * so a disk that differs is refused rather than shown to a guest that would
 * not look again. The file's content is the embedder's: a restore does not
 * roll it back. Requests are served on the notifying thread, so none is
 * half done when the VM is paused. */
#define SAVE_EXTRA 16u

static int blk_save(void *state, void *buf, size_t cap, size_t *len)
{
    struct blk *b = state;
    uint8_t extra[SAVE_EXTRA] = {0};
    memcpy(extra, &b->sectors, 8);
    extra[8] = b->readonly;
    return vmm__virtio_save_with(&b->t, buf, cap, len, extra, sizeof extra, NULL);
}

static int blk_load(void *state, const void *buf, size_t len)
{
    struct blk *b = state;
    struct vmm__virtio_saved s;
    const uint8_t *extra;
    int rc = vmm__virtio_load_begin(&b->t, buf, len, SAVE_EXTRA, &s, &extra);
    if (rc < 0)
        return rc;
    static const uint8_t pad[7];
    if (extra[8] > 1 || memcmp(extra + 9, pad, sizeof pad)) {
        vmm_device_error(b->t.dev, "saved state: bad read-only flag or padding");
        return VMM_EINVAL;
    }
    uint64_t sectors;
    memcpy(&sectors, extra, 8);
    if (sectors != b->sectors || extra[8] != b->readonly) {
        vmm_device_error(b->t.dev,
                         "the snapshot's disk has %llu sectors%s; this one %llu sectors%s",
                         (unsigned long long)sectors, extra[8] ? ", read-only" : "",
                         (unsigned long long)b->sectors, b->readonly ? ", read-only" : "");
        return VMM_EINVAL;
    }
    vmm__virtio_state_apply(&b->t, &s);
    vmm__virtio_resume(&b->t);
    return 0;
}

#define BLK_FEATURES (F_SEG_MAX | F_BLK_SIZE | F_FLUSH | F_DISCARD | F_WRITE_ZEROES)
/* Two models: read-write, and read-only (which offers VIRTIO_BLK_F_RO). */
static const struct vmm__virtio_ops blk_models[2] = {
    {.device_id = 2,
     .features = BLK_FEATURES,
     .nqueues = 1,
     .queue_max = 256,
     .config_size = CONFIG_SIZE,
     .config_read = blk_config_read,
     .notify = blk_notify},
    {.device_id = 2,
     .features = BLK_FEATURES | F_RO,
     .nqueues = 1,
     .queue_max = 256,
     .config_size = CONFIG_SIZE,
     .config_read = blk_config_read,
     .notify = blk_notify},
};

static const char *const blk_keys[] = {VMM__VIRTIO_KEYS, "path", "readonly", "serial", NULL};

static int blk_create(vmm_device *dev, struct json_object *cfg, void **state)
{
    int rc = vmm__cfg_keys(dev, cfg, blk_keys);
    if (rc < 0)
        return rc;
    struct vmm__virtio_place place;
    const char *path = NULL, *serial = NULL;
    bool ro = false;
    struct json_object *v;
    rc = vmm__virtio_cfg(dev, cfg, &place);
    if (rc >= 0) {
        if (!json_object_object_get_ex(cfg, "path", &v) ||
            !json_object_is_type(v, json_type_string))
            rc = VMM_ECONFIG, vmm_device_error(dev, "config.path: required (a disk image file)");
        else
            path = json_object_get_string(v);
    }
    if (rc >= 0 && json_object_object_get_ex(cfg, "readonly", &v)) {
        if (!json_object_is_type(v, json_type_boolean))
            rc = VMM_ECONFIG, vmm_device_error(dev, "config.readonly: must be true or false");
        else
            ro = json_object_get_boolean(v);
    }
    if (rc >= 0 && json_object_object_get_ex(cfg, "serial", &v)) {
        if (!json_object_is_type(v, json_type_string) || strlen(json_object_get_string(v)) > 20)
            rc = VMM_ECONFIG, vmm_device_error(dev, "config.serial: a string of 0-20 characters");
        else
            serial = json_object_get_string(v);
    }
    struct blk *b = NULL;
    if (rc >= 0 && !(b = calloc(1, sizeof *b)))
        rc = VMM_ENOMEM;
    if (rc >= 0) {
        /* Checking: the file's type and permissions, without opening it. */
        bool check = vmm_device_checking(dev);
        b->fd = check ? -1 : open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        struct stat st;
        if (check ? stat(path, &st) < 0 || access(path, ro ? R_OK : R_OK | W_OK) < 0
                  : b->fd < 0 || fstat(b->fd, &st) < 0) {
            vmm_device_error(dev, "config.path: %s: %s", path, strerror(errno));
            rc = errno == ENOENT ? VMM_ENOENT : VMM_EIO;
        } else if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
            vmm_device_error(dev, "config.path: %s: not a file or block device", path);
            rc = VMM_ECONFIG;
        } else {
            off_t size = S_ISBLK(st.st_mode) && !check ? lseek(b->fd, 0, SEEK_END) : st.st_size;
            b->sectors = size > 0 ? (uint64_t)size / SECTOR : 0;
        }
    }
    if (rc >= 0) {
        b->readonly = ro;
        /* The id the driver reads with GET_ID: the configured serial, else the
         * device's id; NUL-padded, not necessarily terminated (§5.2.6). */
        const char *id = serial ? serial : vmm_device_id(dev);
        memcpy(b->serial, id, strnlen(id, sizeof b->serial));
        memcpy(b->config, &b->sectors, 8);
        put32(b->config + 12, SEG_MAX);
        put32(b->config + 20, SECTOR);
        put32(b->config + 36, UINT32_MAX / SECTOR); /* max_discard_sectors */
        put32(b->config + 40, MAX_RANGES);          /* max_discard_seg */
        put32(b->config + 44, 1);                   /* discard_sector_alignment */
        put32(b->config + 48, UINT32_MAX / SECTOR); /* max_write_zeroes_sectors */
        put32(b->config + 52, MAX_RANGES);          /* max_write_zeroes_seg */
        b->config[56] = 0;                          /* write_zeroes_may_unmap */
        rc = vmm__virtio_init(&b->t, dev, &blk_models[ro], b, &place);
    }
    if (rc < 0) {
        if (b)
            blk_destroy(b);
        return rc;
    }
    *state = b;
    return 0;
}

const vmm_device_ops vmm__virtio_blk_ops = {
    .version = VMM_DEVICE_OPS_VERSION,
    .name = "virtio-blk",
    .create = vmm__builtin_create,
    .read = vmm__virtio_dev_read,
    .write = vmm__virtio_dev_write,
    .reset = vmm__virtio_dev_reset,
    .save = blk_save,
    .load = blk_load,
    .destroy = blk_destroy,
};

static const char *const blk_path_keys[] = {"path", NULL};

const struct vmm__device_type vmm__virtio_blk_type = {
    .ops = &vmm__virtio_blk_ops,
    .create = blk_create,
    .path_keys = blk_path_keys,
};
