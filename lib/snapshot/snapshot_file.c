/* SPDX-License-Identifier: MIT */
/* Snapshot files: writing a snapshot to a file (the reader is in
 * snapshot_file_load.c), the CRC-32C both use, and their error helpers. The
 * format is described byte by byte in docs/snapshot-format.md. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "snapshot_format.h"

/* ---- CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) ---- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static bool crc_hw_ok;

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int k = 1; k < 8; k++)
            crc_table[k][n] = (crc_table[k - 1][n] >> 8) ^ crc_table[0][crc_table[k - 1][n] & 0xff];
#if defined(__x86_64__)
    crc_hw_ok = __builtin_cpu_supports("sse4.2");
#endif
}

/* Slicing by 8: eight table lookups per 8 bytes. */
static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t len)
{
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w = get64(p) ^ c;
        c = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
            crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
            crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
            crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
    }
    while (len--)
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return c;
}

#if defined(__x86_64__)
/* SSE4.2's crc32 instruction computes the same polynomial. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t len)
{
    uint64_t c64 = c;
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = _mm_crc32_u64(c64, w);
    }
    c = (uint32_t)c64;
    while (len--)
        c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

uint32_t vmm__crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    uint32_t c = ~crc;
#if defined(__x86_64__)
    if (crc_hw_ok)
        return ~crc_hw(c, buf, len);
#endif
    return ~crc_sw(c, buf, len);
}

/* ---- errors ---- */

int vmm__snapfile_errno(int e)
{
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return VMM_ENOENT;
    case EACCES:
    case EPERM:
    case EROFS:
        return VMM_EPERM;
    case ENOMEM:
        return VMM_ENOMEM;
    case EISDIR:
        return VMM_EINVAL;
    default:
        return VMM_EIO;
    }
}

int vmm__snapfile_bad(int code, const char *where, const char *fmt, ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return vmm__err(code, "%s: %s", where, what);
}

/* ---- save ---- */

struct writer {
    int fd;
    uint8_t *buf;
    size_t n, cap;
    uint32_t crc;
    uint64_t written;
    int err; /* errno of the first failed write, 0 if none */
};

static void flush(struct writer *w, const uint8_t *p, size_t len)
{
    while (len && !w->err) {
        ssize_t r = write(w->fd, p, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            w->err = r < 0 ? errno : EIO;
            break;
        }
        p += r;
        len -= (size_t)r;
    }
}

static void put(struct writer *w, const void *p, size_t len)
{
    w->crc = vmm__crc32c(w->crc, p, len);
    w->written += len;
    if (w->n + len > w->cap) {
        flush(w, w->buf, w->n);
        w->n = 0;
    }
    if (len >= w->cap) {
        flush(w, p, len);
        return;
    }
    memcpy(w->buf + w->n, p, len);
    w->n += len;
}

static void put_zeros(struct writer *w, size_t len)
{
    static const uint8_t zeros[8];
    put(w, zeros, len);
}

static void put_section(struct writer *w, uint32_t type, uint64_t body_len)
{
    uint8_t h[SECTION_HDR] = {0};
    put32(h, type);
    put64(h + 8, body_len);
    put(w, h, sizeof h);
}

static uint64_t region_words(const struct snap_region *sr)
{
    return (sr->size / PAGE + 63) / 64;
}

/* Word i of a region's bitmap, without bits past the region's end. */
static uint64_t region_word(const struct snap_region *sr, uint64_t i)
{
    uint64_t pages = sr->size / PAGE, word = sr->present[i];
    if (i == pages / 64 && pages % 64)
        word &= (1ull << (pages % 64)) - 1;
    return word;
}

static uint64_t region_present(const struct snap_region *sr)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < region_words(sr); i++)
        n += (uint64_t)__builtin_popcountll(region_word(sr, i));
    return n;
}

static uint64_t file_size(const vmm_snapshot *s)
{
    uint64_t total = HEADER_SIZE + SECTION_HDR + 8;
    for (size_t i = 0; i < s->nregions; i++)
        total += SECTION_HDR + REGION_HDR + region_words(&s->regions[i]) * 8 +
                 region_present(&s->regions[i]) * PAGE;
    for (unsigned int i = 0; i < s->nvcpus; i++)
        total += SECTION_HDR + VCPU_HDR + align8(s->vcpus[i].len);
    total += SECTION_HDR + VMSTATE_HDR + align8(s->vm_state_len);
    for (size_t i = 0; i < s->ndevices; i++)
        total += SECTION_HDR + DEVICE_HDR + align8(s->devices[i].len);
    return total + TRAILER_SIZE;
}

static void put_name(struct writer *w, const char *name)
{
    uint8_t f[NAME_FIELD] = {0};
    memcpy(f, name, strnlen(name, NAME_FIELD - 1));
    put(w, f, sizeof f);
}

static void write_snapshot(struct writer *w, const vmm_snapshot *s, uint64_t total)
{
    uint8_t h[HEADER_SIZE] = {0};
    memcpy(h, file_magic, sizeof file_magic);
    put32(h + 8, FILE_VERSION);
    put32(h + 12, s->hv->snapshot_tag);
    put64(h + 16, total);
    put32(h + 24, (uint32_t)(2 + s->nregions + s->nvcpus + s->ndevices));
    put32(h + 28, (uint32_t)s->nregions);
    put32(h + 32, s->nvcpus);
    put32(h + 36, (uint32_t)s->ndevices);
    put32(h + 40, PAGE);
    put(w, h, sizeof h);

    uint8_t b[DEVICE_HDR];
    put_section(w, SEC_VM, 8);
    memset(b, 0, 8);
    put32(b, s->vm_flags);
    put(w, b, 8);

    for (size_t i = 0; i < s->nregions; i++) {
        const struct snap_region *sr = &s->regions[i];
        uint64_t words = region_words(sr), npresent = region_present(sr);
        put_section(w, SEC_REGION, REGION_HDR + words * 8 + npresent * PAGE);
        memset(b, 0, REGION_HDR);
        put64(b, sr->gpa);
        put64(b + 8, sr->size);
        put32(b + 16, sr->flags);
        put64(b + 24, npresent);
        put(w, b, REGION_HDR);
        for (uint64_t k = 0; k < words; k++) {
            put64(b, region_word(sr, k));
            put(w, b, 8);
        }
        for (uint64_t k = 0; k < words; k++)
            for (uint64_t bits = region_word(sr, k); bits; bits &= bits - 1)
                put(w, sr->data + (k * 64 + (uint64_t)__builtin_ctzll(bits)) * PAGE, PAGE);
    }

    for (unsigned int i = 0; i < s->nvcpus; i++) {
        const struct snap_vcpu *sv = &s->vcpus[i];
        put_section(w, SEC_VCPU, VCPU_HDR + align8(sv->len));
        memset(b, 0, VCPU_HDR);
        put32(b, sv->index);
        put64(b + 8, sv->len);
        put(w, b, VCPU_HDR);
        put(w, sv->state, sv->len);
        put_zeros(w, (size_t)(align8(sv->len) - sv->len));
    }

    put_section(w, SEC_VMSTATE, VMSTATE_HDR + align8(s->vm_state_len));
    put64(b, s->vm_state_len);
    put(w, b, VMSTATE_HDR);
    put(w, s->vm_state, s->vm_state_len);
    put_zeros(w, (size_t)(align8(s->vm_state_len) - s->vm_state_len));

    for (size_t i = 0; i < s->ndevices; i++) {
        const struct snap_device *sd = &s->devices[i];
        put_section(w, SEC_DEVICE, DEVICE_HDR + align8(sd->len));
        put_name(w, sd->type);
        put_name(w, sd->id);
        put64(b, sd->len);
        put(w, b, 8);
        put(w, sd->data, sd->len);
        put_zeros(w, (size_t)(align8(sd->len) - sd->len));
    }

    uint8_t t[TRAILER_SIZE] = {0};
    put32(t, w->crc);
    put(w, t, sizeof t);
    flush(w, w->buf, w->n);
    w->n = 0;
}

static atomic_uint tmp_counter;

/* The directory of path into dir (for its fsync), and a new temporary file
 * next to path (so that rename() replaces path atomically, on the same file
 * system) into tmp: its descriptor, or <0. */
static int create_temp(const char *path, char dir[PATH_MAX], char tmp[PATH_MAX])
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return vmm__err(VMM_EINVAL, "vmm_snapshot_save: %s: names a directory, not a file", path);
    size_t dirlen = slash ? (size_t)(slash - path) : 0;
    if (dirlen >= PATH_MAX)
        return vmm__err(VMM_EINVAL, "vmm_snapshot_save: %s: path too long", path);
    if (!slash) {
        strcpy(dir, ".");
    } else if (dirlen == 0) {
        strcpy(dir, "/");
    } else {
        memcpy(dir, path, dirlen);
        dir[dirlen] = 0;
    }
    int fd = -1;
    tmp[0] = 0;
    for (int attempt = 0; fd < 0 && attempt < 16; attempt++) {
        int n = snprintf(tmp, PATH_MAX, "%.*s.%s.tmp-%ld-%u", (int)(slash ? dirlen + 1 : 0), path,
                         base, (long)getpid(), atomic_fetch_add(&tmp_counter, 1));
        if (n < 0 || n >= PATH_MAX)
            return vmm__err(VMM_EINVAL, "vmm_snapshot_save: %s: path too long", path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int e = errno;
        return vmm__err(vmm__snapfile_errno(e), "vmm_snapshot_save: %s: cannot create %s: %s", path,
                        tmp, strerror(e));
    }
    return fd;
}

/* Write the whole file to fd and fsync it. */
static int write_file(const vmm_snapshot *s, int fd, const char *path, const char *tmp)
{
    struct writer w = {.fd = fd, .cap = 1u << 20};
    const char *step = "write";
    uint64_t total = file_size(s);
    if (!(w.buf = malloc(w.cap)))
        return vmm__err(VMM_ENOMEM, "vmm_snapshot_save: %s: out of memory", path);
    write_snapshot(&w, s, total);
    free(w.buf);
    if (!w.err && w.written != total)
        w.err = EIO; /* cannot happen: file_size() and the writer disagree */
    if (!w.err && fsync(fd) < 0) {
        w.err = errno;
        step = "fsync";
    }
    if (w.err)
        return vmm__err(w.err == ENOMEM ? VMM_ENOMEM : VMM_EIO, "vmm_snapshot_save: %s: %s %s: %s",
                        path, step, tmp, strerror(w.err));
    return 0;
}

int vmm_snapshot_save(const vmm_snapshot *s, const char *path)
{
    if (!s || !path)
        return vmm__err(VMM_EINVAL, "vmm_snapshot_save: NULL argument");
    char dir[PATH_MAX], tmp[PATH_MAX];
    int fd = create_temp(path, dir, tmp);
    if (fd < 0)
        return fd;
    int rc = write_file(s, fd, path, tmp);
    if (rc < 0) {
        close(fd);
        unlink(tmp);
        return rc;
    }
    if (close(fd) < 0) {
        int e = errno;
        rc = vmm__err(VMM_EIO, "vmm_snapshot_save: %s: close %s: %s", path, tmp, strerror(e));
    } else if (rename(tmp, path) < 0) {
        int e = errno;
        rc = vmm__err(vmm__snapfile_errno(e), "vmm_snapshot_save: %s: rename from %s: %s", path,
                      tmp, strerror(e));
    }
    if (rc < 0) {
        unlink(tmp);
        return rc;
    }
    /* Make the rename itself durable; some file systems refuse to sync a
     * directory, which changes nothing for the caller. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return 0;
}
