/* SPDX-License-Identifier: MIT */
/* Snapshot files: loading a snapshot from a file or a buffer. A file is
 * untrusted input, so the loader checks every length, count and offset
 * against the bytes it has before it allocates anything from them
 * (docs/snapshot-format.md). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot_format.h"

/* ---- load ---- */

/* What the header says; checked by check_header(). */
struct header {
    uint32_t nsections, nregions, nvcpus, ndevices;
    const struct vmm__hv_ops *hv; /* the backend the tag names, whose blobs these are */
};

static int check_header(const uint8_t *b, size_t len, const char *where, struct header *h)
{
    if (len == 0)
        return bad(where, "empty: not a libvmm snapshot");
    if (memcmp(b, file_magic, len < sizeof file_magic ? len : sizeof file_magic) != 0)
        return bad(where, "not a libvmm snapshot (bad magic)");
    if (len < HEADER_SIZE)
        return bad(where, "truncated: %zu bytes, the header alone needs %u", len, HEADER_SIZE);
    uint32_t version = get32(b + 8), arch = get32(b + 12);
    if (version != FILE_VERSION)
        return vmm__snapfile_bad(VMM_EVERSION, where,
                                 "version %u not supported (this libvmm reads version %u)", version,
                                 FILE_VERSION);
    /* The tag names the backend and architecture whose state blobs the file
     * holds; only that backend can read them. */
    if (!(h->hv = vmm__hv_by_tag(arch)))
        return bad(where,
                   "made by hypervisor backend %u, which this libvmm lacks (it reads %u, "
                   "x86-64 on KVM)",
                   arch, vmm__hv_default()->snapshot_tag);
    uint64_t total = get64(b + 16);
    if (total > len)
        return bad(where, "truncated: the header says %llu bytes, the file has %zu",
                   (unsigned long long)total, len);
    if (total < len)
        return bad(where, "%llu trailing bytes after the snapshot's %llu",
                   (unsigned long long)(len - total), (unsigned long long)total);
    if (len < HEADER_SIZE + TRAILER_SIZE)
        return bad(where, "truncated: %zu bytes, header and checksum alone need %u", len,
                   HEADER_SIZE + TRAILER_SIZE);
    uint32_t stored = get32(b + len - TRAILER_SIZE), computed = vmm__crc32c(0, b, len - 8);
    if (stored != computed)
        return bad(where, "bad checksum (stored 0x%08x, computed 0x%08x): the file is corrupted",
                   stored, computed);
    /* From here on the bytes are as written; what is wrong now was written so. */
    if (get32(b + len - 4) != 0)
        return bad(where, "reserved bytes of the trailer are not zero");
    if (get32(b + 40) != PAGE)
        return bad(where, "page size %u, this libvmm uses %u", get32(b + 40), PAGE);
    for (unsigned int i = 44; i < HEADER_SIZE; i++)
        if (b[i])
            return bad(where, "reserved header byte %u is not zero", i);
    h->nsections = get32(b + 24);
    h->nregions = get32(b + 28);
    h->nvcpus = get32(b + 32);
    h->ndevices = get32(b + 36);
    if (h->nregions > MAX_REGIONS)
        return bad(where, "%u RAM regions, the most is %u", h->nregions, MAX_REGIONS);
    if (h->nvcpus > VMM__MAX_VCPUS)
        return bad(where, "%u vCPUs, the most is %u", h->nvcpus, VMM__MAX_VCPUS);
    if (h->ndevices > MAX_DEVICES)
        return bad(where, "%u devices, the most is %u", h->ndevices, MAX_DEVICES);
    if ((uint64_t)h->nsections != 2ull + h->nregions + h->nvcpus + h->ndevices)
        return bad(where, "%u sections, but %u RAM regions, %u vCPUs and %u devices need %llu",
                   h->nsections, h->nregions, h->nvcpus, h->ndevices,
                   2ull + h->nregions + h->nvcpus + h->ndevices);
    if ((uint64_t)h->nsections * SECTION_HDR > len - HEADER_SIZE - TRAILER_SIZE)
        return bad(where, "truncated: %u sections cannot fit in %zu bytes", h->nsections, len);
    return 0;
}

static bool zero_bytes(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* A type or id field: NUL-terminated within it, not empty, zero after the NUL. */
static bool name_ok(const uint8_t *f)
{
    const uint8_t *nul = memchr(f, 0, NAME_FIELD);
    return nul && nul != f && zero_bytes(nul, NAME_FIELD - (size_t)(nul - f));
}

/* One RAM region section; with s, appends it to s. */
static int load_region(const uint8_t *body, uint64_t blen, const char *where, unsigned int sec,
                       uint64_t *prev_end, vmm_snapshot *s)
{
    if (blen < REGION_HDR)
        return bad(where, "section %u (RAM region): %llu bytes, less than its %u-byte header", sec,
                   (unsigned long long)blen, REGION_HDR);
    uint64_t gpa = get64(body), size = get64(body + 8), npresent = get64(body + 24);
    uint32_t flags = get32(body + 16);
#define REGION_BAD(fmt, ...)                                                                       \
    bad(where, "section %u (RAM region at 0x%llx, 0x%llx bytes): " fmt, sec,                       \
        (unsigned long long)gpa, (unsigned long long)size, __VA_ARGS__)
    if (get32(body + 20))
        return REGION_BAD("%s", "reserved field is not zero");
    if (flags & ~MEM_FLAGS)
        return REGION_BAD("unknown flags 0x%x", flags & ~MEM_FLAGS);
    if (size == 0 || (size | gpa) % PAGE)
        return REGION_BAD("address or size is zero or not a multiple of %u", PAGE);
    if (size > MAX_REGION)
        return REGION_BAD("larger than the limit of %llu bytes", MAX_REGION);
    if (gpa >= GPA_LIMIT || size > GPA_LIMIT - gpa)
        return REGION_BAD("ends beyond guest-physical address 0x%llx", GPA_LIMIT);
    if (gpa < *prev_end)
        return REGION_BAD("overlaps or comes before the previous region, which ends at 0x%llx",
                          (unsigned long long)*prev_end);
    uint64_t pages = size / PAGE, words = (pages + 63) / 64;
    if (npresent > pages)
        return REGION_BAD("%llu pages present, it has %llu", (unsigned long long)npresent,
                          (unsigned long long)pages);
    /* No overflow: words <= 2^22, npresent * PAGE <= 2^40. */
    uint64_t need = REGION_HDR + words * 8 + npresent * PAGE;
    if (blen != need)
        return REGION_BAD("section holds %llu bytes, its bitmap and %llu present pages need %llu",
                          (unsigned long long)blen, (unsigned long long)npresent,
                          (unsigned long long)need);
    const uint8_t *bitmap = body + REGION_HDR;
    uint64_t count = 0;
    for (uint64_t i = 0; i < words; i++) {
        uint64_t w = get64(bitmap + i * 8);
        if (i == words - 1 && pages % 64 && (w >> (pages % 64)))
            return REGION_BAD("bitmap has bits set past the region's %llu pages",
                              (unsigned long long)pages);
        count += (uint64_t)__builtin_popcountll(w);
    }
    if (count != npresent)
        return REGION_BAD("bitmap has %llu pages present, the header says %llu",
                          (unsigned long long)count, (unsigned long long)npresent);
#undef REGION_BAD
    *prev_end = gpa + size;
    if (!s)
        return 0;
    struct snap_region *sr = &s->regions[s->nregions];
    sr->gpa = gpa;
    sr->size = size;
    sr->flags = flags;
    s->nregions++; /* from here vmm_snapshot_free() cleans it up */
    void *m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return vmm__snapfile_bad(VMM_ENOMEM, where, "%llu bytes for RAM region 0x%llx: %s",
                                 (unsigned long long)size, (unsigned long long)gpa,
                                 strerror(errno));
    sr->data = m;
    if (!(sr->present = calloc((size_t)words, sizeof *sr->present)))
        return vmm__snapfile_bad(VMM_ENOMEM, where, "out of memory");
    const uint8_t *page = bitmap + words * 8;
    for (uint64_t i = 0; i < words; i++) {
        uint64_t w = get64(bitmap + i * 8);
        sr->present[i] = w;
        for (; w; w &= w - 1, page += PAGE)
            memcpy(sr->data + (i * 64 + (uint64_t)__builtin_ctzll(w)) * PAGE, page, PAGE);
    }
    sr->npresent = npresent;
    s->bytes += npresent * PAGE;
    /* As after a take: the snapshot never changes again. */
    mprotect(sr->data, (size_t)size, PROT_READ);
    return 0;
}

/* A copy of n bytes in new memory (at least one byte, so never NULL on success). */
static void *dup_bytes(const uint8_t *p, uint64_t n)
{
    void *d = malloc(n ? (size_t)n : 1);
    if (d && n)
        memcpy(d, p, (size_t)n);
    return d;
}

/* A blob field: the length at body + at, the bytes after it padded to 8 with
 * zeros, the whole filling the section. */
static int blob_extent(const uint8_t *body, uint64_t blen, unsigned int at, uint64_t max,
                       const char *where, unsigned int sec, uint32_t type, uint64_t *len)
{
    uint64_t n = get64(body + at);
    if (n > max)
        return bad(where, "section %u (%s): %llu bytes of state, the most is %llu", sec,
                   section_name(type), (unsigned long long)n, (unsigned long long)max);
    if (blen != at + 8 + align8(n))
        return bad(where, "section %u (%s): holds %llu bytes, %llu bytes of state need %llu", sec,
                   section_name(type), (unsigned long long)blen, (unsigned long long)n,
                   (unsigned long long)(at + 8 + align8(n)));
    if (!zero_bytes(body + at + 8 + n, (size_t)(align8(n) - n)))
        return bad(where, "section %u (%s): padding is not zero", sec, section_name(type));
    *len = n;
    return 0;
}

/* Where a walk of the sections is. */
struct walk {
    const char *where;
    const struct header *h;
    vmm_snapshot *s; /* NULL: only check */
    uint32_t nregions, nvcpus, ndevices;
    uint32_t stage; /* the last section type seen, in the order VM, RAM, vCPU, VM state, device */
    uint64_t prev_end;
    int prev_vcpu;
};

/* Section sec's header at off (the sections end at end): its type and body
 * length, checked, and its place in the fixed order: one VM section, the
 * regions, the vCPUs, one VM state, the devices. */
static int section_header(struct walk *w, const uint8_t *b, size_t off, size_t end,
                          unsigned int sec, uint32_t *type, uint64_t *blen)
{
    const char *where = w->where;
    if (end - off < SECTION_HDR)
        return bad(where,
                   "truncated: section %u needs %u bytes at offset %zu, the sections "
                   "end at %zu",
                   sec, SECTION_HDR, off, end);
    const uint8_t *sh = b + off;
    *type = get32(sh);
    *blen = get64(sh + 8);
    const char *tn = section_name(*type);
    if (*type < SEC_VM || *type > SEC_DEVICE)
        return bad(where, "section %u at offset %zu: unknown type %u", sec, off, *type);
    if (get32(sh + 4))
        return bad(where, "section %u (%s): reserved field is not zero", sec, tn);
    if (*blen > end - off - SECTION_HDR)
        return bad(where,
                   "truncated: section %u (%s) needs %llu bytes at offset %zu, the "
                   "sections end at %zu",
                   sec, tn, (unsigned long long)(SECTION_HDR + *blen), off, end);
    if (*blen % 8)
        return bad(where, "section %u (%s): length %llu is not a multiple of 8", sec, tn,
                   (unsigned long long)*blen);
    bool in_order = sec == 0 ? *type == SEC_VM
                             : *type != SEC_VM && *type >= w->stage &&
                                   (*type != w->stage || *type != SEC_VMSTATE) &&
                                   (*type != SEC_DEVICE || w->stage >= SEC_VMSTATE);
    if (!in_order)
        return bad(where, "section %u (%s) out of order (after a %s section)", sec, tn,
                   sec ? section_name(w->stage) : "no");
    w->stage = *type;
    return 0;
}

static int load_vm(struct walk *w, const uint8_t *body, uint64_t blen, unsigned int sec)
{
    if (blen != 8)
        return bad(w->where, "section %u (VM): %llu bytes, not 8", sec, (unsigned long long)blen);
    uint32_t flags = get32(body);
    if (get32(body + 4))
        return bad(w->where, "section %u (VM): reserved field is not zero", sec);
    if (flags & ~(VMM_VM_IRQCHIP | VMM_VM_PIT))
        return bad(w->where, "section %u (VM): unknown VM flags 0x%x", sec, flags);
    if ((flags & VMM_VM_PIT) && !(flags & VMM_VM_IRQCHIP))
        return bad(w->where, "section %u (VM): the PIT flag without the irqchip flag", sec);
    if (w->s)
        w->s->vm_flags = flags;
    return 0;
}

static int load_vcpu(struct walk *w, const uint8_t *body, uint64_t blen, unsigned int sec)
{
    const char *where = w->where;
    if (w->nvcpus++ == w->h->nvcpus)
        return bad(where, "section %u: more vCPUs than the header's %u", sec, w->h->nvcpus);
    if (blen < VCPU_HDR)
        return bad(where, "section %u (vCPU state): %llu bytes, less than its header", sec,
                   (unsigned long long)blen);
    uint32_t index = get32(body);
    if (get32(body + 4))
        return bad(where, "section %u (vCPU state): reserved field is not zero", sec);
    if (index >= VMM__MAX_VCPUS)
        return bad(where, "section %u: vCPU index %u, the most is %u", sec, index,
                   VMM__MAX_VCPUS - 1);
    if ((int)index <= w->prev_vcpu)
        return bad(where, "section %u: vCPU %u after vCPU %d (indices must increase)", sec, index,
                   w->prev_vcpu);
    w->prev_vcpu = (int)index;
    uint64_t n;
    int rc = blob_extent(body, blen, 8, MAX_VCPU_BLOB, where, sec, SEC_VCPU, &n);
    if (rc < 0)
        return rc;
    if (w->h->hv->vcpu_state_valid(body + VCPU_HDR, (size_t)n) < 0) {
        vmm__err_prefix("%s: section %u (vCPU %u)", where, sec, index);
        return VMM_EINVAL;
    }
    if (w->s) {
        struct snap_vcpu *sv = &w->s->vcpus[w->s->nvcpus];
        if (!(sv->state = dup_bytes(body + VCPU_HDR, n)))
            return vmm__snapfile_bad(VMM_ENOMEM, where, "out of memory");
        sv->index = index;
        sv->len = (size_t)n;
        w->s->nvcpus++;
        w->s->bytes += n;
    }
    return 0;
}

static int load_vmstate(struct walk *w, const uint8_t *body, uint64_t blen, unsigned int sec)
{
    uint64_t n;
    int rc = blob_extent(body, blen, 0, MAX_VM_BLOB, w->where, sec, SEC_VMSTATE, &n);
    if (rc < 0)
        return rc;
    if (w->h->hv->vm_state_valid(body + VMSTATE_HDR, (size_t)n) < 0) {
        vmm__err_prefix("%s: section %u (VM state)", w->where, sec);
        return VMM_EINVAL;
    }
    if (w->s) {
        if (!(w->s->vm_state = dup_bytes(body + VMSTATE_HDR, n)))
            return vmm__snapfile_bad(VMM_ENOMEM, w->where, "out of memory");
        w->s->vm_state_len = (size_t)n;
        w->s->bytes += n;
    }
    return 0;
}

static int load_device(struct walk *w, const uint8_t *body, uint64_t blen, unsigned int sec)
{
    const char *where = w->where;
    if (w->ndevices++ == w->h->ndevices)
        return bad(where, "section %u: more devices than the header's %u", sec, w->h->ndevices);
    if (blen < DEVICE_HDR)
        return bad(where, "section %u (device): %llu bytes, less than its header", sec,
                   (unsigned long long)blen);
    if (!name_ok(body) || !name_ok(body + NAME_FIELD))
        return bad(where,
                   "section %u (device): type or id is empty, not NUL-terminated within "
                   "its %u bytes, or not zero-padded",
                   sec, NAME_FIELD);
    uint64_t n;
    int rc = blob_extent(body, blen, 2 * NAME_FIELD, MAX_DEV_STATE, where, sec, SEC_DEVICE, &n);
    if (rc < 0)
        return rc;
    if (w->s) {
        struct snap_device *sd = &w->s->devices[w->s->ndevices];
        if (!(sd->data = dup_bytes(body + DEVICE_HDR, n)))
            return vmm__snapfile_bad(VMM_ENOMEM, where, "out of memory");
        memcpy(sd->type, body, NAME_FIELD);
        memcpy(sd->id, body + NAME_FIELD, NAME_FIELD);
        sd->len = (size_t)n;
        w->s->ndevices++;
        w->s->bytes += n;
    }
    return 0;
}

/* Walk the sections after check_header(): every check, and with s (sized by
 * the header's counts) build the snapshot too. */
static int walk(const uint8_t *b, size_t len, const char *where, const struct header *h,
                vmm_snapshot *s)
{
    struct walk w = {.where = where, .h = h, .s = s, .prev_vcpu = -1};
    size_t off = HEADER_SIZE, end = len - TRAILER_SIZE;
    for (unsigned int sec = 0; sec < h->nsections; sec++) {
        uint32_t type = 0;
        uint64_t blen = 0;
        int rc = section_header(&w, b, off, end, sec, &type, &blen);
        const uint8_t *body = b + off + SECTION_HDR;
        if (rc < 0)
            return rc;
        if (type == SEC_REGION && w.nregions++ == h->nregions)
            return bad(where, "section %u: more RAM regions than the header's %u", sec,
                       h->nregions);
        rc = type == SEC_VM        ? load_vm(&w, body, blen, sec)
             : type == SEC_REGION  ? load_region(body, blen, where, sec, &w.prev_end, s)
             : type == SEC_VCPU    ? load_vcpu(&w, body, blen, sec)
             : type == SEC_VMSTATE ? load_vmstate(&w, body, blen, sec)
                                   : load_device(&w, body, blen, sec);
        if (rc < 0)
            return rc;
        off += SECTION_HDR + (size_t)blen;
    }
    if (off != end)
        return bad(where, "%zu bytes after the last section", end - off);
    if (w.stage < SEC_VMSTATE)
        return bad(where, "no VM state section");
    if (w.nregions != h->nregions || w.nvcpus != h->nvcpus || w.ndevices != h->ndevices)
        return bad(where,
                   "the header counts %u RAM regions, %u vCPUs and %u devices, the sections hold "
                   "%u, %u and %u",
                   h->nregions, h->nvcpus, h->ndevices, w.nregions, w.nvcpus, w.ndevices);
    return 0;
}

static int load(const uint8_t *b, size_t len, const char *where, vmm_snapshot **out)
{
    struct header h;
    int rc = check_header(b, len, where, &h);
    /* Everything is checked before anything is allocated from it. */
    if (rc == 0)
        rc = walk(b, len, where, &h, NULL);
    if (rc < 0)
        return rc;
    vmm_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return vmm__snapfile_bad(VMM_ENOMEM, where, "out of memory");
    s->bytes = sizeof *s;
    s->hv = h.hv;
    if ((h.nregions && !(s->regions = calloc(h.nregions, sizeof *s->regions))) ||
        (h.nvcpus && !(s->vcpus = calloc(h.nvcpus, sizeof *s->vcpus))) ||
        (h.ndevices && !(s->devices = calloc(h.ndevices, sizeof *s->devices))))
        rc = vmm__snapfile_bad(VMM_ENOMEM, where, "out of memory");
    if (rc == 0)
        rc = walk(b, len, where, &h, s);
    if (rc < 0) {
        vmm_snapshot_free(s);
        return rc;
    }
    /* A new id: no VM's memory derives from this snapshot yet, so the first
     * restore into any VM copies everything. */
    s->id = vmm__snapshot_new_id();
    vmm__snapshot_index_tables(s);
    *out = s;
    return 0;
}

int vmm_snapshot_load_buffer(const void *buf, size_t len, vmm_snapshot **out)
{
    if (out)
        *out = NULL;
    if (!out || (!buf && len))
        return vmm__err(VMM_EINVAL, "vmm_snapshot_load_buffer: NULL argument");
    static const uint8_t none[1];
    return load(buf ? buf : none, len, "vmm_snapshot_load_buffer", out);
}

int vmm_snapshot_load(const char *path, vmm_snapshot **out)
{
    if (out)
        *out = NULL;
    if (!path || !out)
        return vmm__err(VMM_EINVAL, "vmm_snapshot_load: NULL argument");
    char where[PATH_MAX + 32];
    snprintf(where, sizeof where, "vmm_snapshot_load: %s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return vmm__snapfile_bad(vmm__snapfile_errno(e), where, "%s", strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return vmm__snapfile_bad(VMM_EIO, where, "fstat: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return bad(where, "not a regular file");
    }
    /* Read rather than map: a file another process truncates meanwhile must
     * give a clean error, not SIGBUS. A shorter read is checked like any other
     * truncation. */
    size_t size = (size_t)st.st_size, got = 0;
    uint8_t *b = NULL;
    if (size && (b = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                          0)) == MAP_FAILED) {
        close(fd);
        return vmm__snapfile_bad(VMM_ENOMEM, where, "%zu bytes to read it into: %s", size,
                                 strerror(errno));
    }
    while (got < size) {
        ssize_t r = read(fd, b + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            munmap(b, size);
            close(fd);
            return vmm__snapfile_bad(VMM_EIO, where, "read: %s", strerror(e));
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    static const uint8_t none[1];
    int rc = load(b ? b : none, got, where, out);
    if (b)
        munmap(b, size);
    return rc;
}
