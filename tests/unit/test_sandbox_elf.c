/* SPDX-License-Identifier: MIT */
/* Unit tests of the sandbox's ELF check and initial stack over images built in
 * memory (no VM). With --write-seeds DIR it writes the libFuzzer seed corpus
 * (fuzz/corpus/sandbox_elf/) instead. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox_internal.h"

#define USER_LO  VMM__SBX_USER_LO
#define USER_HI  (64ull << 20)
#define IMG_LEN  0x1100u
#define TEXT_VA  0x400000ull
#define DATA_VA  0x402000ull
#define ENTRY_VA 0x400100ull

/* An ELF image under construction; valid() builds the reference one. */
struct img {
    _Alignas(8) uint8_t b[16384];
    size_t len;
};

static Elf64_Ehdr *ehdr(struct img *m)
{
    return (Elf64_Ehdr *)m->b;
}

static Elf64_Phdr *phdr(struct img *m, unsigned int i)
{
    return (Elf64_Phdr *)(m->b + sizeof(Elf64_Ehdr)) + i;
}

/* Three program headers: a text PT_LOAD holding the headers and the code, a
 * data PT_LOAD with a zeroed tail, and PT_GNU_STACK. The file ends exactly at
 * the end of the data segment's bytes, so any truncation breaks it. For
 * ET_DYN the addresses are link-time ones (from 0) and the loader adds the
 * static-PIE base. */
static void valid_type(struct img *m, uint16_t type)
{
    uint64_t base = type == ET_DYN ? 0 : TEXT_VA;
    memset(m, 0, sizeof *m);
    Elf64_Ehdr *e = ehdr(m);
    memcpy(e->e_ident, ELFMAG, SELFMAG);
    e->e_ident[EI_CLASS] = ELFCLASS64;
    e->e_ident[EI_DATA] = ELFDATA2LSB;
    e->e_ident[EI_VERSION] = EV_CURRENT;
    e->e_type = type;
    e->e_machine = EM_X86_64;
    e->e_version = EV_CURRENT;
    e->e_entry = base + (ENTRY_VA - TEXT_VA);
    e->e_phoff = sizeof(Elf64_Ehdr);
    e->e_ehsize = sizeof(Elf64_Ehdr);
    e->e_phentsize = sizeof(Elf64_Phdr);
    e->e_phnum = 3;

    Elf64_Phdr *p = phdr(m, 0);
    p->p_type = PT_LOAD;
    p->p_flags = PF_R | PF_X;
    p->p_offset = 0;
    p->p_vaddr = p->p_paddr = base;
    p->p_filesz = p->p_memsz = 0x1000;
    p->p_align = 0x1000;

    p = phdr(m, 1);
    p->p_type = PT_LOAD;
    p->p_flags = PF_R | PF_W;
    p->p_offset = 0x1000;
    p->p_vaddr = p->p_paddr = base + (DATA_VA - TEXT_VA);
    p->p_filesz = 0x100;
    p->p_memsz = 0x3000;
    p->p_align = 0x1000;

    p = phdr(m, 2);
    p->p_type = PT_GNU_STACK;
    p->p_flags = PF_R | PF_W;

    memset(m->b + 0x100, 0x90, 0x10); /* nops at the entry */
    m->b[0x110] = 0xf4;
    for (unsigned int i = 0; i < 0x100; i++)
        m->b[0x1000 + i] = (uint8_t)i;
    m->len = IMG_LEN;
}

static void valid(struct img *m)
{
    valid_type(m, ET_EXEC);
}

/* vmm__sbx_elf_check() on an exactly-sized heap copy, so that a sanitizer
 * sees any read past the end. */
static int check_len(const struct img *m, size_t len, struct vmm__sbx_image *out)
{
    uint8_t *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, m->b, len);
    int rc = vmm__sbx_elf_check(copy, len, USER_LO, USER_HI, out);
    free(copy);
    return rc;
}

static int check(const struct img *m, struct vmm__sbx_image *out)
{
    return check_len(m, m->len, out);
}

/* The image is refused with `code` and a message containing `what`. */
static void expect_refused(const struct img *m, int code, const char *what)
{
    struct vmm__sbx_image im;
    int rc = check(m, &im);
    if (rc != code)
        fail_msg("expected %d (%s), got %d: %s", code, what, rc,
                 rc ? vmm_error_last()->message : "accepted");
    const char *msg = vmm_error_last()->message;
    if (!strstr(msg, what))
        fail_msg("message \"%s\" does not mention \"%s\"", msg, what);
    assert_int_equal(vmm_error_last()->code, code);
}

/* What any accepted image must satisfy, whatever its bytes. */
static void assert_sane(const struct vmm__sbx_image *im, size_t len)
{
    assert_true(im->nsegs >= 1 && im->nsegs <= VMM__SBX_MAX_SEGS);
    assert_true(im->lo >= USER_LO && im->lo < im->hi && im->hi <= USER_HI);
    assert_int_equal(im->lo % 4096, 0);
    assert_int_equal(im->hi % 4096, 0);
    bool entry_in = false, phdr_in = false;
    for (size_t i = 0; i < im->nsegs; i++) {
        const struct vmm__sbx_seg *s = &im->segs[i];
        assert_true(s->memsz > 0 && s->filesz <= s->memsz);
        assert_true(s->offset <= len && s->filesz <= len - s->offset);
        assert_true(s->vaddr >= im->lo && s->memsz <= im->hi - s->vaddr);
        for (size_t j = 0; j < i; j++) {
            const struct vmm__sbx_seg *t = &im->segs[j];
            assert_true(s->vaddr + s->memsz <= t->vaddr || t->vaddr + t->memsz <= s->vaddr);
        }
        if (im->entry >= s->vaddr && im->entry - s->vaddr < s->memsz)
            entry_in = true;
        uint64_t table = (uint64_t)im->phnum * sizeof(Elf64_Phdr);
        if (im->phdr >= s->vaddr && im->phdr - s->vaddr <= s->memsz &&
            table <= s->memsz - (im->phdr - s->vaddr))
            phdr_in = true;
    }
    assert_true(entry_in);
    assert_true(phdr_in);
    assert_true(im->bias == 0 || im->bias == VMM__SBX_PIE_BASE);
}

static void test_valid_exec(void **state)
{
    (void)state;
    struct img m;
    valid(&m);
    struct vmm__sbx_image im;
    memset(&im, 0xa5, sizeof im);
    assert_int_equal(check(&m, &im), 0);
    assert_int_equal(im.bias, 0);
    assert_int_equal(im.entry, ENTRY_VA);
    assert_int_equal(im.phdr, TEXT_VA + sizeof(Elf64_Ehdr));
    assert_int_equal(im.phnum, 3);
    assert_int_equal(im.lo, TEXT_VA);
    assert_int_equal(im.hi, DATA_VA + 0x3000);
    assert_int_equal(im.nsegs, 2);
    assert_int_equal(im.segs[0].offset, 0);
    assert_int_equal(im.segs[0].filesz, 0x1000);
    assert_int_equal(im.segs[0].vaddr, TEXT_VA);
    assert_int_equal(im.segs[0].memsz, 0x1000);
    assert_int_equal(im.segs[1].offset, 0x1000);
    assert_int_equal(im.segs[1].filesz, 0x100);
    assert_int_equal(im.segs[1].vaddr, DATA_VA);
    assert_int_equal(im.segs[1].memsz, 0x3000);
    assert_sane(&im, m.len);

    /* An empty PT_LOAD is no segment at all. */
    phdr(&m, 2)->p_type = PT_LOAD;
    assert_int_equal(check(&m, &im), 0);
    assert_int_equal(im.nsegs, 2);

    /* Bytes after the last segment are allowed (section headers, symbols). */
    valid(&m);
    m.len = IMG_LEN + 0x800;
    assert_int_equal(check(&m, &im), 0);

    /* A segment may end exactly at the top of the program's memory. */
    valid(&m);
    phdr(&m, 1)->p_vaddr = USER_HI - 0x3000;
    assert_int_equal(check(&m, &im), 0);
    assert_int_equal(im.hi, USER_HI);

    /* PT_PHDR, when present, gives AT_PHDR. */
    valid(&m);
    ehdr(&m)->e_phnum = 4;
    Elf64_Phdr *p = phdr(&m, 3);
    p->p_type = PT_PHDR;
    p->p_offset = sizeof(Elf64_Ehdr);
    p->p_vaddr = TEXT_VA + sizeof(Elf64_Ehdr);
    p->p_filesz = p->p_memsz = 4 * sizeof(Elf64_Phdr);
    assert_int_equal(check(&m, &im), 0);
    assert_int_equal(im.phdr, TEXT_VA + sizeof(Elf64_Ehdr));
    assert_int_equal(im.phnum, 4);
    assert_sane(&im, m.len);
}

static void test_valid_pie(void **state)
{
    (void)state;
    struct img m;
    valid_type(&m, ET_DYN);
    struct vmm__sbx_image im;
    assert_int_equal(check(&m, &im), 0);
    assert_int_equal(im.bias, VMM__SBX_PIE_BASE);
    assert_int_equal(im.entry, VMM__SBX_PIE_BASE + 0x100);
    assert_int_equal(im.phdr, VMM__SBX_PIE_BASE + sizeof(Elf64_Ehdr));
    assert_int_equal(im.lo, VMM__SBX_PIE_BASE);
    assert_int_equal(im.hi, VMM__SBX_PIE_BASE + 0x5000);
    assert_int_equal(im.nsegs, 2);
    assert_int_equal(im.segs[0].vaddr, VMM__SBX_PIE_BASE);
    assert_int_equal(im.segs[1].vaddr, VMM__SBX_PIE_BASE + 0x2000);
    assert_int_equal(im.segs[1].offset, 0x1000);
    assert_sane(&im, m.len);

    /* The relocated placement is what must fit, not the link-time one. */
    phdr(&m, 1)->p_vaddr = USER_HI - VMM__SBX_PIE_BASE - 0x2000;
    expect_refused(&m, VMM_ENOMEM, "does not fit");
}

static void test_header_rules(void **state)
{
    (void)state;
    struct img m;

    valid(&m);
    m.b[1] = 'F';
    expect_refused(&m, VMM_EINVAL, "bad magic");

    valid(&m);
    m.b[EI_CLASS] = ELFCLASS32;
    expect_refused(&m, VMM_EINVAL, "64-bit");

    valid(&m);
    m.b[EI_DATA] = ELFDATA2MSB;
    expect_refused(&m, VMM_EINVAL, "little-endian");

    valid(&m);
    ehdr(&m)->e_version = 2;
    expect_refused(&m, VMM_EINVAL, "version");

    valid(&m);
    ehdr(&m)->e_machine = EM_AARCH64;
    expect_refused(&m, VMM_EINVAL, "x86-64");

    valid(&m);
    ehdr(&m)->e_machine = EM_386;
    expect_refused(&m, VMM_EINVAL, "x86-64");

    valid(&m);
    ehdr(&m)->e_type = ET_REL;
    expect_refused(&m, VMM_EINVAL, "not an executable");

    valid(&m);
    ehdr(&m)->e_type = ET_CORE;
    expect_refused(&m, VMM_EINVAL, "not an executable");

    valid(&m);
    ehdr(&m)->e_phentsize = sizeof(Elf64_Phdr) - 1;
    expect_refused(&m, VMM_EINVAL, "program header size");

    valid(&m);
    ehdr(&m)->e_phoff = m.len - 8;
    expect_refused(&m, VMM_EINVAL, "program headers at offset");

    valid(&m);
    ehdr(&m)->e_phoff = UINT64_MAX - 8;
    expect_refused(&m, VMM_EINVAL, "program headers at offset");

    valid(&m);
    ehdr(&m)->e_phnum = 0;
    expect_refused(&m, VMM_EINVAL, "0 program headers");

    valid(&m);
    ehdr(&m)->e_phnum = VMM__SBX_MAX_PHDRS + 1;
    expect_refused(&m, VMM_EINVAL, "65 program headers");

    valid(&m);
    ehdr(&m)->e_phnum = 0xffff; /* PN_XNUM: the real count would be elsewhere */
    expect_refused(&m, VMM_EINVAL, "program headers");

    valid(&m);
    m.len = sizeof(Elf64_Ehdr) - 1;
    expect_refused(&m, VMM_EINVAL, "too short");

    struct vmm__sbx_image im;
    assert_int_equal(vmm__sbx_elf_check(NULL, 100, USER_LO, USER_HI, &im), VMM_EINVAL);
    valid(&m);
    assert_int_equal(vmm__sbx_elf_check(m.b, m.len, USER_LO, USER_HI, NULL), VMM_EINVAL);
}

static void test_segment_rules(void **state)
{
    (void)state;
    struct img m;
    Elf64_Phdr *p;

    valid(&m);
    p = phdr(&m, 2);
    p->p_type = PT_INTERP;
    p->p_offset = 0x200;
    p->p_filesz = 8;
    expect_refused(&m, VMM_EINVAL, "dynamically linked");

    valid(&m);
    phdr(&m, 0)->p_type = PT_NOTE;
    phdr(&m, 1)->p_type = PT_DYNAMIC;
    expect_refused(&m, VMM_EINVAL, "no loadable segment");

    valid(&m);
    phdr(&m, 1)->p_filesz = phdr(&m, 1)->p_memsz + 1;
    expect_refused(&m, VMM_EINVAL, "exceeds memory size");

    valid(&m);
    phdr(&m, 1)->p_filesz = 0x101; /* one byte past the end of the file */
    expect_refused(&m, VMM_EINVAL, "segment 1: bytes 0x1000+0x101 lie past the end");

    /* offset + filesz wraps around to a small number. */
    valid(&m);
    p = phdr(&m, 1);
    p->p_offset = 0xfffffffffffff000ull;
    p->p_filesz = 0x1100;
    p->p_memsz = 0x2000;
    expect_refused(&m, VMM_EINVAL, "past the end of the file");

    /* vaddr + memsz wraps around. */
    valid(&m);
    p = phdr(&m, 1);
    p->p_vaddr = 0xfffffffffffff000ull;
    p->p_memsz = 0x2000;
    expect_refused(&m, VMM_EINVAL, "overflows");

    /* The static-PIE base pushes vaddr around the top. */
    valid_type(&m, ET_DYN);
    phdr(&m, 1)->p_vaddr = 0ull - 0x1000;
    phdr(&m, 1)->p_memsz = 0x1000;
    expect_refused(&m, VMM_EINVAL, "overflows");

    valid(&m);
    phdr(&m, 1)->p_vaddr = 0x1000;
    expect_refused(&m, VMM_EINVAL, "segment 1 at 0x1000 lies below");

    valid(&m);
    phdr(&m, 1)->p_vaddr = USER_LO - 0x1000;
    expect_refused(&m, VMM_EINVAL, "lies below");

    valid(&m);
    phdr(&m, 1)->p_vaddr = USER_HI;
    expect_refused(&m, VMM_ENOMEM, "does not fit");

    valid(&m);
    phdr(&m, 1)->p_vaddr = USER_HI - 0x2000; /* memsz 0x3000 runs over the top */
    expect_refused(&m, VMM_ENOMEM, "does not fit");

    valid(&m);
    phdr(&m, 1)->p_memsz = 1ull << 40;
    expect_refused(&m, VMM_ENOMEM, "does not fit");

    /* Overlapping segments: the data's bytes land on the text's last page. */
    valid(&m);
    p = phdr(&m, 1);
    p->p_offset = 0x800;
    p->p_vaddr = TEXT_VA + 0x800;
    expect_refused(&m, VMM_EINVAL, "overlaps");

    /* The same segment twice. */
    valid(&m);
    memcpy(phdr(&m, 2), phdr(&m, 1), sizeof(Elf64_Phdr));
    expect_refused(&m, VMM_EINVAL, "overlaps");

    valid(&m);
    phdr(&m, 1)->p_vaddr = DATA_VA + 0x10;
    expect_refused(&m, VMM_EINVAL, "differ modulo the page size");

    valid(&m);
    ehdr(&m)->e_entry = DATA_VA + 0x10; /* inside, but not executable */
    expect_refused(&m, VMM_EINVAL, "entry point 0x402010");

    valid(&m);
    ehdr(&m)->e_entry = 0;
    expect_refused(&m, VMM_EINVAL, "entry point");

    valid(&m);
    ehdr(&m)->e_entry = TEXT_VA + 0x1000; /* one past the end of the text */
    expect_refused(&m, VMM_EINVAL, "entry point");

    /* The text starts after the program headers, so nothing maps them. */
    valid(&m);
    p = phdr(&m, 0);
    p->p_offset = 0x100;
    p->p_vaddr = TEXT_VA + 0x100;
    p->p_filesz = p->p_memsz = 0xf00;
    expect_refused(&m, VMM_EINVAL, "program headers are not in a loaded segment");

    /* A PT_PHDR pointing at memory no segment covers. */
    valid(&m);
    ehdr(&m)->e_phnum = 4;
    p = phdr(&m, 3);
    p->p_type = PT_PHDR;
    p->p_offset = sizeof(Elf64_Ehdr);
    p->p_vaddr = 0x800000;
    p->p_filesz = p->p_memsz = 4 * sizeof(Elf64_Phdr);
    expect_refused(&m, VMM_EINVAL, "program headers are not in a loaded segment");

    /* More PT_LOADs than the loader takes: the text and small zero-filled
     * ones above the data, each on its own page. */
    valid(&m);
    for (unsigned int i = 1; i <= VMM__SBX_MAX_SEGS; i++) {
        p = phdr(&m, i);
        memset(p, 0, sizeof *p);
        p->p_type = PT_LOAD;
        p->p_flags = PF_R | PF_W;
        p->p_vaddr = 0x600000 + 0x1000ull * i;
        p->p_memsz = 0x10;
    }
    ehdr(&m)->e_phnum = VMM__SBX_MAX_SEGS + 1;
    expect_refused(&m, VMM_EINVAL, "more than 16 loadable segments");
    /* One fewer is fine. */
    ehdr(&m)->e_phnum = VMM__SBX_MAX_SEGS;
    struct vmm__sbx_image im;
    assert_int_equal(check(&m, &im), 0);
    assert_int_equal(im.nsegs, VMM__SBX_MAX_SEGS);
    assert_sane(&im, m.len);
}

/* Every prefix of the valid images is refused cleanly. */
static void test_every_truncation(void **state)
{
    (void)state;
    static const uint16_t types[] = {ET_EXEC, ET_DYN};
    for (size_t t = 0; t < 2; t++) {
        struct img m;
        valid_type(&m, types[t]);
        for (size_t len = 0; len < m.len; len++) {
            struct vmm__sbx_image im;
            int rc = check_len(&m, len, &im);
            if (rc != VMM_EINVAL)
                fail_msg("type %u truncated to %zu bytes: %d", types[t], len, rc);
        }
    }
}

/* Single-byte changes anywhere in the headers: accepted images stay sane. */
static void test_every_header_byte(void **state)
{
    (void)state;
    static const uint8_t values[] = {0x00, 0x01, 0x10, 0x40, 0x7f, 0x80, 0xfe, 0xff};
    size_t end = sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr);
    unsigned int accepted = 0, refused = 0;
    for (int t = 0; t < 2; t++) {
        struct img m;
        valid_type(&m, t ? ET_DYN : ET_EXEC);
        for (size_t off = 0; off < end; off++) {
            uint8_t orig = m.b[off];
            for (size_t v = 0; v <= sizeof values; v++) {
                m.b[off] = v < sizeof values ? values[v] : (uint8_t)(orig ^ 0x01);
                struct vmm__sbx_image im;
                int rc = check(&m, &im);
                if (rc == 0) {
                    accepted++;
                    assert_sane(&im, m.len);
                } else {
                    refused++;
                    if (rc != VMM_EINVAL && rc != VMM_ENOMEM)
                        fail_msg("byte %zu = 0x%02x: %d", off, m.b[off], rc);
                    assert_non_null(vmm_error_last()->message);
                    assert_true(vmm_error_last()->message[0] != 0);
                }
            }
            m.b[off] = orig;
        }
    }
    /* Both kinds must occur, or the loop tested nothing. */
    assert_true(accepted > 0);
    assert_true(refused > 0);
}

/* ---- the initial stack ---- */

#define STACK_TOP  (64ull << 20)
#define STACK_SIZE (2ull << 20)
#define STACK_LO   (STACK_TOP - STACK_SIZE)
#define CANARY     4096u

/* A stack area with canary pages on both sides. */
struct area {
    uint8_t *buf;
    uint8_t *mem; /* guest STACK_LO */
    uint64_t lo, top;
};

static void area_init(struct area *a, uint64_t size)
{
    a->buf = malloc(size + 2 * CANARY);
    assert_non_null(a->buf);
    memset(a->buf, 0xcc, size + 2 * CANARY);
    a->mem = a->buf + CANARY;
    a->top = STACK_TOP;
    a->lo = STACK_TOP - size;
}

static void area_free(struct area *a)
{
    uint64_t size = a->top - a->lo;
    for (size_t i = 0; i < CANARY; i++) {
        assert_int_equal(a->buf[i], 0xcc);
        assert_int_equal(a->buf[CANARY + size + i], 0xcc);
    }
    free(a->buf);
}

static uint64_t rd64(const struct area *a, uint64_t gva)
{
    assert_true(gva >= a->lo && gva + 8 <= a->top);
    uint64_t v;
    memcpy(&v, a->mem + (gva - a->lo), 8);
    return v;
}

static const char *rdstr(const struct area *a, uint64_t gva)
{
    assert_true(gva >= a->lo && gva < a->top);
    const char *s = (const char *)a->mem + (gva - a->lo);
    assert_non_null(memchr(s, 0, a->top - gva));
    return s;
}

static void image_for_stack(struct vmm__sbx_image *im)
{
    struct img m;
    valid(&m);
    assert_int_equal(check(&m, im), 0);
}

static void test_stack_layout(void **state)
{
    (void)state;
    struct vmm__sbx_image im;
    image_for_stack(&im);
    struct area a;
    area_init(&a, STACK_SIZE);
    static const char *const argv[] = {"/bin/prog", "one", "", "three and four", NULL};
    static const char *const envp[] = {"A=1", "HOME=/nowhere", NULL};
    uint8_t rnd[16];
    for (int i = 0; i < 16; i++)
        rnd[i] = (uint8_t)(0xa0 + i);
    uint64_t rsp = 0;
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, argv, envp, rnd, &rsp), 0);
    assert_int_equal(rsp % 16, 0);
    assert_true(rsp >= a.lo && rsp < a.top);
    /* Linux puts it all in the top pages; a few KiB is plenty here. */
    assert_true(a.top - rsp < 8192);

    uint64_t p = rsp;
    assert_int_equal(rd64(&a, p), 4);
    p += 8;
    for (int i = 0; i < 4; i++, p += 8)
        assert_string_equal(rdstr(&a, rd64(&a, p)), argv[i]);
    assert_int_equal(rd64(&a, p), 0);
    p += 8;
    for (int i = 0; i < 2; i++, p += 8)
        assert_string_equal(rdstr(&a, rd64(&a, p)), envp[i]);
    assert_int_equal(rd64(&a, p), 0);
    p += 8;

    /* The auxiliary vector, up to AT_NULL. */
    uint64_t aux[64];
    bool seen[64] = {false};
    unsigned int n = 0;
    for (;; p += 16) {
        uint64_t type = rd64(&a, p), val = rd64(&a, p + 8);
        if (type == AT_NULL)
            break;
        assert_true(type < 64);
        if (seen[type])
            fail_msg("auxv type %llu twice", (unsigned long long)type);
        seen[type] = true;
        aux[type] = val;
        assert_true(++n < 40);
    }
    uint64_t vectors_end = p + 16;
    static const unsigned int required[] = {
        AT_PHDR,  AT_PHENT,  AT_PHNUM, AT_PAGESZ, AT_ENTRY, AT_RANDOM, AT_EXECFN, AT_PLATFORM,
        AT_HWCAP, AT_CLKTCK, AT_UID,   AT_EUID,   AT_GID,   AT_EGID,   AT_SECURE};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!seen[required[i]])
            fail_msg("auxv lacks type %u", required[i]);
    assert_int_equal(aux[AT_PAGESZ], 4096);
    assert_int_equal(aux[AT_PHDR], im.phdr);
    assert_int_equal(aux[AT_PHENT], sizeof(Elf64_Phdr));
    assert_int_equal(aux[AT_PHNUM], im.phnum);
    assert_int_equal(aux[AT_ENTRY], im.entry);
    assert_int_equal(aux[AT_UID], 0);
    assert_int_equal(aux[AT_EUID], 0);
    assert_int_equal(aux[AT_GID], 0);
    assert_int_equal(aux[AT_EGID], 0);
    assert_int_equal(aux[AT_SECURE], 0);
    assert_true(aux[AT_CLKTCK] > 0);
    assert_string_equal(rdstr(&a, aux[AT_EXECFN]), "/bin/prog");
    assert_string_equal(rdstr(&a, aux[AT_PLATFORM]), "x86_64");
    assert_true(aux[AT_RANDOM] >= vectors_end && aux[AT_RANDOM] + 16 <= a.top);
    assert_memory_equal(a.mem + (aux[AT_RANDOM] - a.lo), rnd, 16);

    /* The strings lie above the vectors, not under them. */
    for (uint64_t q = rsp + 8; q < rsp + 8 + 8 * 7; q += 8) {
        uint64_t s = rd64(&a, q);
        if (s)
            assert_true(s >= vectors_end && s < a.top);
    }
    area_free(&a);
}

static void test_stack_no_env(void **state)
{
    (void)state;
    struct vmm__sbx_image im;
    image_for_stack(&im);
    struct area a;
    area_init(&a, STACK_SIZE);
    static const char *const argv[] = {"p", NULL};
    static const char *const no_env[] = {NULL};
    uint8_t rnd[16] = {1};
    for (int k = 0; k < 2; k++) {
        uint64_t rsp = 0;
        assert_int_equal(
            vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, argv, k ? no_env : NULL, rnd, &rsp), 0);
        assert_int_equal(rsp % 16, 0);
        assert_int_equal(rd64(&a, rsp), 1);
        assert_string_equal(rdstr(&a, rd64(&a, rsp + 8)), "p");
        assert_int_equal(rd64(&a, rsp + 16), 0);    /* argv's NULL */
        assert_int_equal(rd64(&a, rsp + 24), 0);    /* envp's NULL */
        assert_true(rd64(&a, rsp + 32) != AT_NULL); /* the auxv starts */
    }
    area_free(&a);
}

static void test_stack_limits(void **state)
{
    (void)state;
    struct vmm__sbx_image im;
    image_for_stack(&im);
    struct area a;
    area_init(&a, STACK_SIZE);
    uint8_t rnd[16] = {0};
    uint64_t rsp;

    static const char *const empty[] = {NULL};
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, empty, NULL, rnd, &rsp),
                     VMM_EINVAL);
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, NULL, NULL, rnd, &rsp),
                     VMM_EINVAL);

    /* VMM__SBX_MAX_ARGS strings fit; one more, in argv or in envp, does not. */
    enum { N = VMM__SBX_MAX_ARGS };
    const char **many = calloc(N + 3, sizeof *many);
    assert_non_null(many);
    for (unsigned int i = 0; i < N + 2; i++)
        many[i] = "x";
    many[N + 1] = NULL;
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, many, NULL, rnd, &rsp),
                     VMM_ERANGE);
    assert_non_null(strstr(vmm_error_last()->message, "4096"));
    many[N] = NULL;
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, many, NULL, rnd, &rsp), 0);
    assert_int_equal(rd64(&a, rsp), N);
    static const char *const one_env[] = {"E=1", NULL};
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, many, one_env, rnd, &rsp),
                     VMM_ERANGE);
    /* Split between argv and envp, the total counts: 2000 + 2096, then 2000 + 2097. */
    many[N] = "x";
    many[N + 1] = "x";
    many[2000] = NULL;
    many[N + 1] = NULL;
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, many, many + 2001, rnd, &rsp),
                     0);
    assert_int_equal(rd64(&a, rsp), 2000);
    many[N + 1] = "x";
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, many, many + 2001, rnd, &rsp),
                     VMM_ERANGE);
    free(many);

    /* Too many bytes: one long string, or a long environment. */
    size_t big = VMM__SBX_MAX_ARG_BYTES + 100;
    char *s = malloc(big);
    assert_non_null(s);
    memset(s, 'y', big - 1);
    s[big - 1] = 0;
    const char *argv_big[] = {"p", s, NULL};
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, argv_big, NULL, rnd, &rsp),
                     VMM_ERANGE);
    assert_non_null(strstr(vmm_error_last()->message, "bytes"));
    const char *argv_p[] = {"p", NULL};
    const char *envp_big[] = {s, NULL};
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, argv_p, envp_big, rnd, &rsp),
                     VMM_ERANGE);
    /* Two halves that fit alone but not together. */
    s[big / 2 + 10] = 0;
    const char *envp_two[] = {s, s, NULL};
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, argv_p, envp_two, rnd, &rsp),
                     VMM_ERANGE);
    /* 200 KiB is under the limit and fits in 2 MiB. */
    memset(s, 'y', big - 1);
    s[200u << 10] = 0;
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, argv_p, envp_big, rnd, &rsp), 0);
    assert_string_equal(rdstr(&a, rd64(&a, rsp + 24)), s);
    area_free(&a);

    /* The same 200 KiB in a 64 KiB area: under the limit, but no room. */
    area_init(&a, 64u << 10);
    assert_int_equal(vmm__sbx_build_stack(a.mem, a.lo, a.top, &im, argv_p, envp_big, rnd, &rsp),
                     VMM_ENOMEM);
    /* A tiny area cannot even hold the vectors. */
    uint64_t tiny_lo = a.top - 256;
    assert_int_equal(vmm__sbx_build_stack(a.mem + (tiny_lo - a.lo), tiny_lo, a.top, &im, argv_p,
                                          NULL, rnd, &rsp),
                     VMM_ENOMEM);
    free(s);
    area_free(&a);
}

/* ---- seeds for fuzz/sandbox_elf_fuzz.c ---- */

static int write_file(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

static int write_seeds(const char *dir)
{
    struct img m;
    int bad = 0;
    valid(&m);
    bad |= write_file(dir, "exec.elf", m.b, m.len);
    valid_type(&m, ET_DYN);
    bad |= write_file(dir, "pie.elf", m.b, m.len);
    valid(&m);
    ehdr(&m)->e_phnum = 4;
    Elf64_Phdr *p = phdr(&m, 3);
    p->p_type = PT_PHDR;
    p->p_offset = sizeof(Elf64_Ehdr);
    p->p_vaddr = TEXT_VA + sizeof(Elf64_Ehdr);
    p->p_filesz = p->p_memsz = 4 * sizeof(Elf64_Phdr);
    bad |= write_file(dir, "phdr.elf", m.b, m.len);
    valid(&m);
    phdr(&m, 2)->p_type = PT_INTERP;
    bad |= write_file(dir, "interp.elf", m.b, m.len);
    valid(&m);
    phdr(&m, 1)->p_offset = 0x800;
    phdr(&m, 1)->p_vaddr = TEXT_VA + 0x800;
    bad |= write_file(dir, "overlap.elf", m.b, m.len);
    valid(&m);
    bad |= write_file(dir, "truncated.elf", m.b, 0x200);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0)
        return write_seeds(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_exec),       cmocka_unit_test(test_valid_pie),
        cmocka_unit_test(test_header_rules),     cmocka_unit_test(test_segment_rules),
        cmocka_unit_test(test_every_truncation), cmocka_unit_test(test_every_header_byte),
        cmocka_unit_test(test_stack_layout),     cmocka_unit_test(test_stack_no_env),
        cmocka_unit_test(test_stack_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
