/* SPDX-License-Identifier: MIT */
/* Snapshot files without KVM: valid files built here by a writer of the test's
 * own (after docs/snapshot-format.md) load, and the library writes them back
 * byte for byte; a corpus of truncated, corrupted, foreign and hostile files is
 * refused with the expected message. With --write-seeds DIR it writes the
 * libFuzzer seed corpus (fuzz/corpus/snapshot/) instead. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv/kvm.h"
#include "hv/kvm_x86_64_blob.h"
#include "snapshot/snapshot_internal.h"

/* ---- CRC-32C, written independently of the library's ---- */

static uint32_t crc_tab[256];

static uint32_t crc32c(const uint8_t *p, size_t n)
{
    if (!crc_tab[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c >> 1) ^ (c & 1 ? 0x82f63b78u : 0);
            crc_tab[i] = c;
        }
    uint32_t c = 0xffffffffu;
    while (n--)
        c = crc_tab[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

/* ---- a growing byte buffer ---- */

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static void b_bytes(struct buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void b_zeros(struct buf *b, size_t n)
{
    static const uint8_t z[4096];
    while (n) {
        size_t k = n < sizeof z ? n : sizeof z;
        b_bytes(b, z, k);
        n -= k;
    }
}

static void set32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void set64(uint8_t *p, uint64_t v)
{
    set32(p, (uint32_t)v);
    set32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void b_u32(struct buf *b, uint32_t v)
{
    uint8_t x[4];
    set32(x, v);
    b_bytes(b, x, 4);
}

static void b_u64(struct buf *b, uint64_t v)
{
    uint8_t x[8];
    set64(x, v);
    b_bytes(b, x, 8);
}

static void b_pad8(struct buf *b, size_t len)
{
    b_zeros(b, (8 - len % 8) % 8);
}

/* ---- the test's writer ---- */

#define PG 4096u

struct mregion {
    uint64_t gpa, size;
    uint32_t flags;
    unsigned int npages;
    uint64_t pages[4]; /* page numbers present */
};

struct mdevice {
    const char *type, *id;
    size_t len;
    const uint8_t *data; /* the state; NULL: a pattern */
};

struct model {
    uint32_t vm_flags;
    unsigned int nregions;
    struct mregion regions[4];
    unsigned int nvcpus;
    unsigned int vcpu_index[4];
    bool full_vcpu; /* XSAVE and MSR parts too */
    unsigned int ndevices;
    struct mdevice devices[4];
};

static const struct model basic = {
    .vm_flags = 0,
    .nregions = 2,
    .regions = {{0, 64 << 10, 0, 2, {0, 3}}, {1 << 20, 3 * PG, VMM_MEM_DIRTY_LOG, 1, {2}}},
    .nvcpus = 2,
    .vcpu_index = {0, 3},
    .ndevices = 2,
    .devices = {{"serial", "serial0", 20}, {"debug-exit", "debug-exit0", 0}},
};

/* The content the model gives page p of region r. */
static uint8_t page_byte(unsigned int r, uint64_t p)
{
    return (uint8_t)(0x11 + r * 0x20 + p);
}

/* A well-formed vCPU blob in the backend's layout (kvm_x86_64_blob.h). */
static void *vcpu_blob(unsigned int index, bool full, size_t *len)
{
    size_t xoff = (sizeof(struct vcpu_blob) + 7) & ~(size_t)7;
    size_t moff = xoff + (full ? 4096 : 0);
    size_t total = moff + (full ? sizeof(struct kvm_msrs) + 2 * sizeof(struct kvm_msr_entry) : 0);
    struct vcpu_blob *v = calloc(1, total);
    assert_non_null(v);
    v->magic = VCPU_BLOB_MAGIC;
    v->parts = PART_REGS | PART_SREGS;
    v->total = total;
    v->regs.rip = 0x1000 + index;
    v->regs.rflags = 2;
    v->sregs.cr0 = 0x10; /* paging off: no page tables to index */
    if (full) {
        v->parts |= PART_XSAVE | PART_MSRS;
        v->xsave_size = 4096;
        v->xsave_off = (uint32_t)xoff;
        v->nmsrs = 2;
        v->msrs_off = (uint32_t)moff;
        struct kvm_msrs *m = (struct kvm_msrs *)((uint8_t *)v + moff);
        m->nmsrs = 2;
        m->entries[0].index = 0xc0000081;
        m->entries[1].index = 0xc0000082;
    }
    *len = total;
    return v;
}

static void section(struct buf *b, uint32_t type, uint64_t len)
{
    b_u32(b, type);
    b_u32(b, 0);
    b_u64(b, len);
}

static void fix_crc(struct buf *b)
{
    set32(b->p + b->n - 8, crc32c(b->p, b->n - 8));
}

static void build(const struct model *m, struct buf *b)
{
    memset(b, 0, sizeof *b);
    static const char magic[8] = {'L', 'V', 'M', 'M', 'S', 'N', 'A', 'P'};
    b_bytes(b, magic, 8);
    b_u32(b, 1);
    b_u32(b, 1);
    b_u64(b, 0); /* total, below */
    b_u32(b, 2 + m->nregions + m->nvcpus + m->ndevices);
    b_u32(b, m->nregions);
    b_u32(b, m->nvcpus);
    b_u32(b, m->ndevices);
    b_u32(b, PG);
    b_zeros(b, 20);

    section(b, 1, 8);
    b_u32(b, m->vm_flags);
    b_u32(b, 0);

    for (unsigned int r = 0; r < m->nregions; r++) {
        const struct mregion *mr = &m->regions[r];
        uint64_t pages = mr->size / PG, words = (pages + 63) / 64;
        section(b, 2, 32 + words * 8 + (uint64_t)mr->npages * PG);
        b_u64(b, mr->gpa);
        b_u64(b, mr->size);
        b_u32(b, mr->flags);
        b_u32(b, 0);
        b_u64(b, mr->npages);
        for (uint64_t w = 0; w < words; w++) {
            uint64_t bits = 0;
            for (unsigned int k = 0; k < mr->npages; k++)
                if (mr->pages[k] / 64 == w)
                    bits |= 1ull << (mr->pages[k] % 64);
            b_u64(b, bits);
        }
        for (unsigned int k = 0; k < mr->npages; k++) { /* pages in increasing order */
            uint8_t page[PG];
            memset(page, page_byte(r, mr->pages[k]), PG);
            b_bytes(b, page, PG);
        }
    }

    for (unsigned int i = 0; i < m->nvcpus; i++) {
        size_t len;
        void *blob = vcpu_blob(m->vcpu_index[i], m->full_vcpu, &len);
        section(b, 3, 16 + ((len + 7) & ~(size_t)7));
        b_u32(b, m->vcpu_index[i]);
        b_u32(b, 0);
        b_u64(b, len);
        b_bytes(b, blob, len);
        b_pad8(b, len);
        free(blob);
    }

    struct vm_blob vb;
    memset(&vb, 0, sizeof vb);
    vb.magic = VM_BLOB_MAGIC;
    section(b, 4, 8 + ((sizeof vb + 7) & ~(size_t)7));
    b_u64(b, sizeof vb);
    b_bytes(b, &vb, sizeof vb);
    b_pad8(b, sizeof vb);

    for (unsigned int i = 0; i < m->ndevices; i++) {
        const struct mdevice *d = &m->devices[i];
        section(b, 5, 72 + ((d->len + 7) & ~(size_t)7));
        char f[32] = {0};
        memcpy(f, d->type, strnlen(d->type, sizeof f));
        b_bytes(b, f, 32);
        memset(f, 0, sizeof f);
        memcpy(f, d->id, strnlen(d->id, sizeof f));
        b_bytes(b, f, 32);
        b_u64(b, d->len);
        for (size_t k = 0; k < d->len; k++) {
            uint8_t c = d->data ? d->data[k] : (uint8_t)(0xa0 + k);
            b_bytes(b, &c, 1);
        }
        b_pad8(b, d->len);
    }
    b_zeros(b, 8);
    set64(b->p + 16, b->n);
    fix_crc(b);
}

/* Offsets of each section in a built file, found by walking it. */
static size_t sections(const struct buf *b, size_t *off, size_t max)
{
    size_t n = 0, o = 64;
    while (o + 16 <= b->n - 8 && n < max) {
        off[n++] = o;
        o += 16 + (size_t)get64(b->p + o + 8);
    }
    return n;
}

/* ---- helpers ---- */

static void expect_refused(const void *p, size_t n, int code, const char *needle)
{
    vmm_snapshot *s = (vmm_snapshot *)&s; /* must be reset to NULL */
    int rc = vmm_snapshot_load_buffer(p, n, &s);
    const char *msg = vmm_error_last()->message;
    if (rc != code)
        fail_msg("expected %d (\"%s\"), got %d: %s", code, needle, rc, rc ? msg : "accepted");
    assert_null(s);
    if (!strstr(msg, needle))
        fail_msg("message \"%s\" does not mention \"%s\"", msg, needle);
    if (strncmp(msg, "vmm_snapshot_load_buffer: ", 26) != 0)
        fail_msg("message \"%s\" does not name its source", msg);
}

static vmm_snapshot *expect_loads(const struct buf *b)
{
    vmm_snapshot *s = NULL;
    int rc = vmm_snapshot_load_buffer(b->p, b->n, &s);
    if (rc != 0)
        fail_msg("load: %d: %s", rc, vmm_error_last()->message);
    assert_non_null(s);
    return s;
}

static char tmpdir[64];

static int make_tmpdir(void **st)
{
    (void)st;
    strcpy(tmpdir, "/tmp/test_snapshot_file.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **st)
{
    (void)st;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    return rmdir(tmpdir);
}

static unsigned int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    unsigned int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void read_file(const char *path, struct buf *b)
{
    memset(b, 0, sizeof *b);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        b_bytes(b, chunk, n);
    fclose(f);
}

/* ---- valid files ---- */

static void test_crc32c(void **st)
{
    (void)st;
    assert_int_equal(vmm__crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(crc32c((const uint8_t *)"123456789", 9), 0xe3069283u);
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof data; len += 37) {
            assert_int_equal(vmm__crc32c(0, data + off, len), crc32c(data + off, len));
            size_t half = len / 3;
            assert_int_equal(
                vmm__crc32c(vmm__crc32c(0, data + off, half), data + off + half, len - half),
                crc32c(data + off, len));
        }
}

static void test_load_valid(void **st)
{
    (void)st;
    struct buf b;
    build(&basic, &b);
    vmm_snapshot *s = expect_loads(&b);
    assert_int_equal(s->vm_flags, 0);
    assert_int_equal(s->nregions, 2);
    for (unsigned int r = 0; r < 2; r++) {
        const struct mregion *mr = &basic.regions[r];
        const struct snap_region *sr = &s->regions[r];
        assert_int_equal(sr->gpa, mr->gpa);
        assert_int_equal(sr->size, mr->size);
        assert_int_equal(sr->flags, mr->flags);
        assert_int_equal(sr->npresent, mr->npages);
        for (uint64_t p = 0; p < mr->size / PG; p++) {
            bool present = false;
            for (unsigned int k = 0; k < mr->npages; k++)
                present = present || mr->pages[k] == p;
            assert_int_equal(sr->present[p / 64] >> (p % 64) & 1, present);
            uint8_t want = present ? page_byte(r, p) : 0;
            for (size_t i = 0; i < PG; i += 511)
                assert_int_equal(sr->data[p * PG + i], want);
        }
    }
    assert_int_equal(s->nvcpus, 2);
    assert_int_equal(s->vcpus[0].index, 0);
    assert_int_equal(s->vcpus[1].index, 3);
    assert_int_equal(((struct vcpu_blob *)s->vcpus[1].state)->regs.rip, 0x1003);
    assert_int_equal(s->vm_state_len, sizeof(struct vm_blob));
    assert_int_equal(s->ndevices, 2);
    assert_string_equal(s->devices[0].type, "serial");
    assert_string_equal(s->devices[0].id, "serial0");
    assert_int_equal(s->devices[0].len, 20);
    assert_int_equal(((uint8_t *)s->devices[0].data)[19], 0xa0 + 19);
    assert_string_equal(s->devices[1].type, "debug-exit");
    assert_int_equal(s->devices[1].len, 0);
    assert_false(s->tables_unknown);
    assert_true(vmm_snapshot_memory_size(s) >= 3 * PG);
    /* Each load is a snapshot of its own: a VM's baseline never names it yet. */
    vmm_snapshot *s2 = expect_loads(&b);
    assert_true(s->id != 0 && s2->id != 0 && s->id != s2->id);
    vmm_snapshot_free(s2);

    /* The library writes the very bytes the test's writer wrote, and reads its
     * own file back. */
    char path[128];
    snprintf(path, sizeof path, "%s/basic.snap", tmpdir);
    assert_int_equal(vmm_snapshot_save(s, path), 0);
    struct buf f;
    read_file(path, &f);
    assert_int_equal(f.n, b.n);
    assert_memory_equal(f.p, b.p, b.n);
    vmm_snapshot *s3 = NULL;
    assert_int_equal(vmm_snapshot_load(path, &s3), 0);
    assert_int_equal(vmm_snapshot_save(s3, path), 0); /* replaces it */
    free(f.p);
    read_file(path, &f);
    assert_memory_equal(f.p, b.p, b.n);
    assert_int_equal(dir_entries(tmpdir), 1);
    unlink(path);
    free(f.p);
    vmm_snapshot_free(s3);
    vmm_snapshot_free(s);

    /* The smallest file: no RAM, no vCPUs, no devices; and an irqchip VM with
     * vCPU blobs that hold XSAVE and MSRs. */
    struct model m = {0};
    free(b.p);
    build(&m, &b);
    vmm_snapshot_free(expect_loads(&b));
    m = basic;
    m.vm_flags = VMM_VM_IRQCHIP | VMM_VM_PIT;
    m.full_vcpu = true;
    free(b.p);
    build(&m, &b);
    s = expect_loads(&b);
    assert_int_equal(s->vm_flags, 3);
    vmm_snapshot_free(s);
    free(b.p);
}

/* ---- refusals ---- */

static void test_null_and_files(void **st)
{
    (void)st;
    vmm_snapshot *s;
    assert_int_equal(vmm_snapshot_load_buffer(NULL, 4, &s), VMM_EINVAL);
    assert_null(s);
    assert_int_equal(vmm_snapshot_load_buffer("x", 1, NULL), VMM_EINVAL);
    assert_int_equal(vmm_snapshot_load(NULL, &s), VMM_EINVAL);
    assert_int_equal(vmm_snapshot_save(NULL, "x"), VMM_EINVAL);
    expect_refused(NULL, 0, VMM_EINVAL, "empty");

    char path[128];
    snprintf(path, sizeof path, "%s/missing.snap", tmpdir);
    assert_int_equal(vmm_snapshot_load(path, &s), VMM_ENOENT);
    assert_non_null(strstr(vmm_error_last()->message, "missing.snap"));
    assert_int_equal(vmm_snapshot_load(tmpdir, &s), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "not a regular file"));
    /* A file's errors name the file. */
    FILE *f = fopen(path, "wb");
    fputs("#!/bin/sh\necho not a snapshot at all, but long enough for a header......\n", f);
    fclose(f);
    assert_int_equal(vmm_snapshot_load(path, &s), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "missing.snap: not a libvmm snapshot"));
    unlink(path);

    /* Saving where it cannot: nothing is left behind. */
    struct buf b;
    build(&basic, &b);
    s = expect_loads(&b);
    assert_int_equal(vmm_snapshot_save(s, "/nonexistent-libvmm-dir/x.snap"), VMM_ENOENT);
    assert_non_null(strstr(vmm_error_last()->message, "/nonexistent-libvmm-dir/x.snap"));
    /* A directory: the temporary file is written, the rename fails, and the
     * temporary file goes. */
    snprintf(path, sizeof path, "%s/sub", tmpdir);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(vmm_snapshot_save(s, path), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "rename"));
    assert_int_equal(dir_entries(tmpdir), 1);
    assert_int_equal(dir_entries(path), 0);
    assert_int_equal(rmdir(path), 0);
    snprintf(path, sizeof path, "%s/", tmpdir);
    assert_int_equal(vmm_snapshot_save(s, path), VMM_EINVAL);
    assert_int_equal(dir_entries(tmpdir), 0);
    vmm_snapshot_free(s);
    free(b.p);
}

static void test_headers(void **st)
{
    (void)st;
    struct buf b;
    build(&basic, &b);
    uint8_t *c = malloc(b.n + 16);
    assert_non_null(c);

    expect_refused(b.p, 5, VMM_EINVAL, "truncated");
    expect_refused("MZ\x90", 3, VMM_EINVAL, "not a libvmm snapshot");
    expect_refused(b.p, 40, VMM_EINVAL, "truncated: 40 bytes, the header alone needs 64");
    memcpy(c, b.p, b.n);
    c[3] = 'X';
    expect_refused(c, b.n, VMM_EINVAL, "not a libvmm snapshot (bad magic)");

    struct buf v = {0};
    b_bytes(&v, b.p, b.n);
    set32(v.p + 8, 7);
    fix_crc(&v);
    expect_refused(v.p, v.n, VMM_EVERSION, "version 7 not supported");
    set32(v.p + 8, 1);
    set32(v.p + 12, 2);
    fix_crc(&v);
    expect_refused(v.p, v.n, VMM_EINVAL, "made by hypervisor backend 2, which this libvmm lacks");
    set32(v.p + 12, 1);
    fix_crc(&v);
    vmm_snapshot_free(expect_loads(&v));

    /* Trailing garbage: past the header's length, then counted in it. */
    memcpy(c, b.p, b.n);
    memset(c + b.n, 0xee, 16);
    expect_refused(c, b.n + 16, VMM_EINVAL, "16 trailing bytes");
    free(v.p);
    memset(&v, 0, sizeof v);
    b_bytes(&v, b.p, b.n - 8);
    b_zeros(&v, 16);
    b_zeros(&v, 8);
    set64(v.p + 16, v.n);
    fix_crc(&v);
    expect_refused(v.p, v.n, VMM_EINVAL, "16 bytes after the last section");

    /* Checksum. */
    memcpy(c, b.p, b.n);
    c[b.n / 2] ^= 1;
    expect_refused(c, b.n, VMM_EINVAL, "bad checksum");
    memcpy(c, b.p, b.n);
    c[b.n - 1] = 1; /* trailer padding, with the checksum right */
    expect_refused(c, b.n, VMM_EINVAL, "trailer");
    free(v.p);
    free(c);
    free(b.p);
}

static void test_every_truncation(void **st)
{
    (void)st;
    struct buf b;
    build(&basic, &b);
    for (size_t n = 0; n < b.n; n++) {
        uint8_t *c = malloc(n ? n : 1); /* exactly n bytes: ASan sees any overread */
        assert_non_null(c);
        memcpy(c, b.p, n);
        expect_refused(c, n, VMM_EINVAL, n ? "truncated" : "empty");
        free(c);
    }
    fprintf(stderr, "all %zu truncations of a %zu-byte file refused\n", b.n, b.n);
    free(b.p);
}

static void test_every_byte(void **st)
{
    (void)st;
    struct buf b;
    build(&basic, &b);
    size_t off[16];
    size_t nsec = sections(&b, off, 16);
    assert_int_equal(nsec, 2 + 2 + 2 + 2);
    /* Bytes that no valid file can have otherwise: the header, every section
     * header, the vCPU blobs' magic, the device sections' padding. */
    bool *must = calloc(b.n, sizeof *must);
    assert_non_null(must);
    for (size_t i = 0; i < 64; i++)
        must[i] = true;
    for (size_t k = 0; k < nsec; k++)
        for (size_t i = 0; i < 16; i++)
            must[off[k] + i] = true;
    for (size_t i = 0; i < 4; i++)
        must[off[3] + 32 + i] = must[off[4] + 32 + i] = true;
    for (size_t i = 4; i < 8; i++)
        must[b.n - 8 + i] = true;

    uint8_t *c = malloc(b.n);
    assert_non_null(c);
    size_t refused = 0, accepted = 0;
    for (size_t i = 0; i < b.n; i++) {
        for (int fixed = 0; fixed < 2; fixed++) {
            if (fixed && i >= b.n - 8 && i < b.n - 4)
                continue; /* the checksum itself */
            memcpy(c, b.p, b.n);
            c[i] ^= 0x5a;
            if (fixed)
                set32(c + b.n - 8, crc32c(c, b.n - 8));
            vmm_snapshot *s = NULL;
            int rc = vmm_snapshot_load_buffer(c, b.n, &s);
            const char *msg = vmm_error_last()->message;
            if (!fixed) {
                /* The checksum catches everything the header checks before it do not. */
                const char *want = i < 8         ? "bad magic"
                                   : i < 12      ? "version"
                                   : i < 16      ? "hypervisor backend"
                                   : i < 24      ? "bytes"
                                   : i < b.n - 4 ? "bad checksum"
                                                 : "trailer";
                if (rc == 0 || !strstr(msg, want))
                    fail_msg("byte %zu corrupted: %s (wanted \"%s\")", i, rc ? msg : "accepted",
                             want);
                continue;
            }
            if (rc == 0) {
                if (must[i])
                    fail_msg("byte %zu corrupted (checksum fixed up) was accepted", i);
                accepted++;
                vmm_snapshot_free(s);
            } else {
                if (rc != VMM_EINVAL && rc != VMM_EVERSION)
                    fail_msg("byte %zu: code %d: %s", i, rc, msg);
                assert_null(s);
                assert_true(strlen(msg) > 26);
                refused++;
            }
        }
    }
    fprintf(stderr,
            "%zu single-byte corruptions: all caught by the checksum; with the checksum fixed "
            "up, %zu refused by the structural checks, %zu loaded (register, page or state "
            "bytes)\n",
            b.n, refused, accepted);
    free(must);
    free(c);
    free(b.p);
}

/* A model change or a poke at a section, with the checksum made right. */
static void poke(const struct model *m, size_t sec, size_t at, unsigned int width, uint64_t v,
                 int code, const char *needle)
{
    struct buf b;
    build(m, &b);
    if (width) {
        size_t off[16];
        size_t n = sections(&b, off, 16);
        assert_true(sec < n);
        uint8_t *p = b.p + off[sec] + at;
        if (width == 4)
            set32(p, (uint32_t)v);
        else if (width == 8)
            set64(p, v);
        else
            *p = (uint8_t)v;
        fix_crc(&b);
    }
    expect_refused(b.p, b.n, code, needle);
    free(b.p);
}

static void test_structure(void **st)
{
    (void)st;
    struct model m;
    /* Sections of basic: 0 VM, 1-2 RAM, 3-4 vCPU, 5 VM state, 6-7 devices.
     * Offsets below count from the section header; the body starts at 16. */
    /* Lengths and counts far beyond the file. */
    poke(&basic, 1, 8, 8, 1ull << 62, VMM_EINVAL, "truncated: section 1 (RAM region) needs");
    poke(&basic, 3, 8, 8, ~0ull - 7, VMM_EINVAL, "truncated: section 3 (vCPU state) needs");
    poke(&basic, 1, 16 + 8, 8, 2ull << 40, VMM_EINVAL, "larger than the limit");
    poke(&basic, 1, 16 + 8, 8, 1ull << 62, VMM_EINVAL, "larger than the limit");
    poke(&basic, 1, 16 + 24, 8, 1ull << 40, VMM_EINVAL, "pages present, it has");
    poke(&basic, 1, 16 + 24, 8, 1, VMM_EINVAL, "need");
    poke(&basic, 3, 16 + 8, 8, 1ull << 60, VMM_EINVAL, "the most is");
    poke(&basic, 3, 16 + 8, 8, 8, VMM_EINVAL, "holds");
    poke(&basic, 6, 16 + 64, 8, ~0ull, VMM_EINVAL, "the most is");
    poke(&basic, 5, 16, 8, 16, VMM_EINVAL, "holds");
    poke(&basic, 1, 8, 8, 25, VMM_EINVAL, "not a multiple of 8");
    /* The header's counts. */
    poke(&basic, 0, -64 + 28, 4, 0xffffffffu, VMM_EINVAL, "RAM regions, the most is");
    poke(&basic, 0, -64 + 32, 4, 257, VMM_EINVAL, "vCPUs, the most is");
    poke(&basic, 0, -64 + 36, 4, 100000, VMM_EINVAL, "devices, the most is");
    poke(&basic, 0, -64 + 24, 4, 9, VMM_EINVAL, "sections, but");
    poke(&basic, 0, -64 + 24, 4, 0xffffffffu, VMM_EINVAL, "sections, but");
    poke(&basic, 0, -64 + 40, 4, 65536, VMM_EINVAL, "page size");
    poke(&basic, 0, -64 + 50, 1, 1, VMM_EINVAL, "reserved header byte");
    /* Regions: zero, unaligned, beyond 2^52, overlapping, unsorted, flags. */
    m = basic;
    m.regions[1].size = 0;
    m.regions[1].npages = 0;
    poke(&m, 0, 0, 0, 0, VMM_EINVAL, "zero or not a multiple");
    poke(&basic, 1, 16, 8, 0x800, VMM_EINVAL, "zero or not a multiple");
    poke(&basic, 2, 16, 8, (1ull << 52) - PG, VMM_EINVAL, "ends beyond");
    m = basic;
    m.regions[1].gpa = 60 << 10;
    poke(&m, 0, 0, 0, 0, VMM_EINVAL, "overlaps or comes before the previous region");
    m = basic;
    m.regions[0] = basic.regions[1];
    m.regions[1] = basic.regions[0];
    poke(&m, 0, 0, 0, 0, VMM_EINVAL, "overlaps or comes before the previous region");
    poke(&basic, 1, 16 + 16, 4, 0x80, VMM_EINVAL, "unknown flags 0x80");
    poke(&basic, 1, 16 + 20, 4, 1, VMM_EINVAL, "reserved field");
    /* Bitmaps: popcount against the count, bits past the end. */
    m = basic;
    m.regions[0].npages = 1; /* the bitmap below says 2 */
    {
        struct buf b;
        build(&m, &b);
        size_t off[16];
        sections(&b, off, 16);
        b.p[off[1] + 16 + 32] |= 1u << 5;
        fix_crc(&b);
        expect_refused(b.p, b.n, VMM_EINVAL, "bitmap has 2 pages present, the header says 1");
        free(b.p);
    }
    poke(&basic, 2, 16 + 32, 1, 0x24, VMM_EINVAL, "bitmap has bits set past");
    /* vCPUs: order, range, blobs. */
    m = basic;
    m.vcpu_index[0] = 3;
    m.vcpu_index[1] = 1;
    poke(&m, 0, 0, 0, 0, VMM_EINVAL, "vCPU 1 after vCPU 3 (indices must increase)");
    m.vcpu_index[0] = m.vcpu_index[1] = 2;
    poke(&m, 0, 0, 0, 0, VMM_EINVAL, "indices must increase");
    m.vcpu_index[0] = 1;
    m.vcpu_index[1] = 256;
    poke(&m, 0, 0, 0, 0, VMM_EINVAL, "vCPU index 256, the most is 255");
    poke(&basic, 3, 32, 4, 0x12345678, VMM_EINVAL, "vCPU state: bad header");
    poke(&basic, 3, 32 + 4, 4, 1u << 12, VMM_EINVAL, "unknown parts");
    poke(&basic, 3, 32 + 24, 8, 99, VMM_EINVAL, "bad header or length");
    poke(&basic, 3, 16 + 4, 4, 1, VMM_EINVAL, "reserved field");
    m = basic;
    m.full_vcpu = true;
    {
        size_t len;
        void *blob = vcpu_blob(0, true, &len);
        size_t xoff = ((struct vcpu_blob *)blob)->xsave_off;
        size_t moff = ((struct vcpu_blob *)blob)->msrs_off;
        free(blob);
        poke(&m, 3, 32 + moff, 4, 3, VMM_EINVAL, "MSR chunk 0 holds 3 entries, not 2");
        poke(&m, 3, 32 + offsetof(struct vcpu_blob, xsave_size), 4, 4000, VMM_EINVAL,
             "bad XSAVE area");
        poke(&m, 3, 32 + offsetof(struct vcpu_blob, xsave_off), 4, 0x7fffffff, VMM_EINVAL,
             "bad XSAVE area");
        poke(&m, 3, 32 + offsetof(struct vcpu_blob, nmsrs), 4, 1u << 21, VMM_EINVAL,
             "bad MSR area");
        (void)xoff;
    }
    /* The VM state blob and the VM section. */
    poke(&basic, 5, 24, 4, 0, VMM_EINVAL, "VM state: bad header");
    poke(&basic, 5, 24 + 4, 4, 1, VMM_EINVAL, "VM state: unknown parts");
    poke(&basic, 0, 16, 4, 0x10, VMM_EINVAL, "unknown VM flags 0x10");
    poke(&basic, 0, 16, 4, VMM_VM_PIT, VMM_EINVAL, "PIT flag without the irqchip");
    /* Section types and order. */
    poke(&basic, 2, 0, 4, 9, VMM_EINVAL, "unknown type 9");
    poke(&basic, 0, 0, 4, 2, VMM_EINVAL, "out of order");
    poke(&basic, 5, 0, 4, 5, VMM_EINVAL, "out of order");
    poke(&basic, 4, 0, 4, 2, VMM_EINVAL, "out of order");
    poke(&basic, 2, 4, 4, 1, VMM_EINVAL, "reserved field");
    /* Devices: unterminated, empty or unpadded names, padding. */
    {
        struct buf b;
        build(&basic, &b);
        size_t off[16];
        sections(&b, off, 16);
        uint8_t *type = b.p + off[6] + 16;
        memset(type, 'A', 32);
        fix_crc(&b);
        expect_refused(b.p, b.n, VMM_EINVAL, "not NUL-terminated");
        memset(type, 0, 32);
        fix_crc(&b);
        expect_refused(b.p, b.n, VMM_EINVAL, "empty");
        memcpy(type, "serial\0x", 8);
        fix_crc(&b);
        expect_refused(b.p, b.n, VMM_EINVAL, "not zero-padded");
        memcpy(type, "serial\0\0", 8);
        memset(type + 32, 'i', 32); /* the id */
        fix_crc(&b);
        expect_refused(b.p, b.n, VMM_EINVAL, "not NUL-terminated");
        free(b.p);
    }
    poke(&basic, 6, 16 + 72 + 20, 1, 1, VMM_EINVAL, "padding is not zero");
}

/* The restore-time check: a vCPU whose KVM reads a larger XSAVE image than the
 * blob holds refuses it (KVM_SET_XSAVE would read past it). */
static void test_xsave_size_check(void **st)
{
    (void)st;
    size_t len;
    void *blob = vcpu_blob(0, true, &len);
    struct vmm__hv_vcpu v = {.fd = -1, .xsave_size = 4096};
    assert_int_equal(vmm__kvm_vcpu_state_check(&v, blob, len), 0);
    v.xsave_size = 8192; /* KVM_CAP_XSAVE2 with AMX, say */
    assert_int_equal(vmm__kvm_vcpu_state_check(&v, blob, len), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "XSAVE image has 4096 bytes"));
    free(blob);
    blob = vcpu_blob(0, false, &len); /* no XSAVE part: nothing to read */
    assert_int_equal(vmm__kvm_vcpu_state_check(&v, blob, len), 0);
    free(blob);
}

/* Device state from a file reaches the devices' load: any bytes are refused
 * or taken, never read out of bounds, and the device keeps working. */
static int h_set_irq(void *ctx, unsigned int line, int level)
{
    (void)ctx;
    (void)line;
    (void)level;
    return 0;
}

static int h_claim(void *ctx, vmm_device *dev, vmm_space space, uint64_t base, uint64_t len,
                   unsigned int index)
{
    (void)ctx;
    (void)dev;
    (void)space;
    (void)base;
    (void)len;
    (void)index;
    return 0;
}

static void h_release(void *ctx, vmm_device *dev)
{
    (void)ctx;
    (void)dev;
}

static const struct vmm__devhost fake_host = {
    .set_irq = h_set_irq, .claim = h_claim, .release = h_release};

static void test_device_loads(void **st)
{
    (void)st;
    const char *types[] = {"serial", "debug-exit"};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (size_t t = 0; t < 2; t++) {
        vmm_device *d;
        assert_int_equal(vmm__device_new(types[t], NULL, &fake_host, NULL, NULL, &d), 0);
        unsigned int taken = 0;
        for (int i = 0; i < 20000; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            size_t len = (size_t)(seed % 1100);
            uint8_t *p = malloc(len ? len : 1);
            assert_non_null(p);
            for (size_t k = 0; k < len; k++)
                p[k] = (uint8_t)(seed >> (k % 56));
            if (i % 3 == 0 && len >= 16) { /* plausible headers too */
                p[0] = 1;
                p[11] = (uint8_t)(len - 16);
                p[12] = (uint8_t)((len - 16) >> 8);
            }
            int rc = vmm_device_load(d, p, len);
            assert_true(rc == 0 || rc == VMM_EINVAL);
            taken += rc == 0;
            free(p);
            uint8_t v;
            for (unsigned int off = 0; off < (t ? 1u : 8u); off++)
                assert_int_equal(vmm__device_access(d, 0, off, &v, 1, false), 0);
        }
        fprintf(stderr, "%s: 20000 random states, %u taken, the rest refused\n", types[t], taken);
        vmm__device_free(d);
    }
}

/* ---- the fuzz seeds ---- */

/* A virtio device's real saved state, live with queue 0 set up and one
 * request served, over a small RAM of the seed writer's own. */
static uint8_t seed_ram[0x10000];

static int seed_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
    (void)ctx;
    if (gpa > sizeof seed_ram || len > sizeof seed_ram - gpa)
        return VMM_EFAULT;
    memcpy(buf, seed_ram + gpa, len);
    return 0;
}

static int seed_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
    (void)ctx;
    if (gpa > sizeof seed_ram || len > sizeof seed_ram - gpa)
        return VMM_EFAULT;
    memcpy(seed_ram + gpa, buf, len);
    return 0;
}

static void seed_reg(vmm_device *d, uint64_t off, uint32_t v)
{
    if (vmm__device_access(d, 0, off, &v, 4, true) != 0)
        abort();
}

static uint8_t *virtio_state(const char *type, const char *config, size_t *len)
{
    static const struct vmm__devhost host = {.mem_read = seed_read,
                                             .mem_write = seed_write,
                                             .set_irq = h_set_irq,
                                             .claim = h_claim,
                                             .release = h_release};
    memset(seed_ram, 0, sizeof seed_ram);
    vmm_device *d;
    if (vmm__device_new(type, config, &host, NULL, NULL, &d) != 0)
        abort();
    seed_reg(d, 0x070, 1 | 2);                    /* ACKNOWLEDGE, DRIVER */
    seed_reg(d, 0x024, 1), seed_reg(d, 0x020, 1); /* VIRTIO_F_VERSION_1 */
    seed_reg(d, 0x070, 1 | 2 | 8);                /* FEATURES_OK */
    seed_reg(d, 0x030, 0), seed_reg(d, 0x038, 8);
    seed_reg(d, 0x080, 0x1000), seed_reg(d, 0x090, 0x2000), seed_reg(d, 0x0a0, 0x3000);
    seed_reg(d, 0x044, 1);
    seed_reg(d, 0x070, 1 | 2 | 8 | 4); /* DRIVER_OK */
    /* One 16-byte device-writable buffer published on queue 0. */
    const uint64_t addr = 0x4000;
    const uint32_t blen = 16;
    const uint16_t flags = 2, one = 1;
    memcpy(seed_ram + 0x1000, &addr, 8);
    memcpy(seed_ram + 0x1008, &blen, 4);
    memcpy(seed_ram + 0x100c, &flags, 2);
    memcpy(seed_ram + 0x2002, &one, 2);
    seed_reg(d, 0x050, 0);
    uint8_t *p = NULL;
    if (vmm_device_save(d, NULL, 0, len) != 0 || !(p = malloc(*len)) ||
        vmm_device_save(d, p, *len, len) != 0)
        abort();
    vmm__device_free(d);
    return p;
}

static int write_seeds(const char *dir)
{
    struct {
        const char *name;
        struct model m;
        size_t truncate; /* 0: whole */
    } seeds[] = {
        {"basic.snap", basic, 0},
        {"empty-vm.snap", {0}, 0},
        {"irqchip-full-vcpu.snap", basic, 0},
        {"truncated.snap", basic, 3000},
        {"virtio-devices.snap", basic, 0},
    };
    /* Small: one present page, one vCPU. */
    for (size_t i = 0; i < VMM__ARRAY_LEN(seeds); i++) {
        seeds[i].m.regions[0].npages = 1;
        seeds[i].m.regions[1].npages = 0;
        if (seeds[i].m.nvcpus)
            seeds[i].m.nvcpus = 1;
    }
    seeds[2].m.vm_flags = VMM_VM_IRQCHIP | VMM_VM_PIT;
    seeds[2].m.full_vcpu = true;
    /* The virtio devices' states, as a VM with them saves them. */
    const char *mmio = "{\"mmio\": 3489660928}";
    const char *net = "{\"mmio\": 3489660928, \"mac\": \"52:54:00:12:34:56\"}";
    size_t len[3];
    uint8_t *state[3] = {virtio_state("virtio-rng", mmio, &len[0]),
                         virtio_state("virtio-net", net, &len[1]),
                         virtio_state("virtio-console", mmio, &len[2])};
    struct model *v = &seeds[4].m;
    v->ndevices = 3;
    v->devices[0] = (struct mdevice){"virtio-rng", "rng0", len[0], state[0]};
    v->devices[1] = (struct mdevice){"virtio-net", "net0", len[1], state[1]};
    v->devices[2] = (struct mdevice){"virtio-console", "console0", len[2], state[2]};
    for (size_t i = 0; i < VMM__ARRAY_LEN(seeds); i++) {
        struct buf b;
        build(&seeds[i].m, &b);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, seeds[i].name);
        FILE *f = fopen(path, "wb");
        if (!f) {
            perror(path);
            return 1;
        }
        size_t n = seeds[i].truncate ? seeds[i].truncate : b.n;
        if (fwrite(b.p, 1, n, f) != n || fclose(f) != 0) {
            perror(path);
            return 1;
        }
        printf("%s: %zu bytes\n", path, n);
        free(b.p);
    }
    for (int i = 0; i < 3; i++)
        free(state[i]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
        return write_seeds(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),           cmocka_unit_test(test_load_valid),
        cmocka_unit_test(test_null_and_files),   cmocka_unit_test(test_headers),
        cmocka_unit_test(test_every_truncation), cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_structure),        cmocka_unit_test(test_xsave_size_check),
        cmocka_unit_test(test_device_loads),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
