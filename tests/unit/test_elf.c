/* SPDX-License-Identifier: MIT */
/* Unit tests of the ELF loader's validation over images built in memory (no VM). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/elf.h"

#define NAME "t.elf"

/* An ELF image under construction; the valid one is built by valid(). */
struct img {
    _Alignas(8) uint8_t b[8192];
    size_t len;
};

static int fd = -1; /* the temp file images are written to */

static Elf64_Ehdr *ehdr(struct img *m)
{
    return (Elf64_Ehdr *)m->b;
}

static Elf64_Phdr *phdr(struct img *m, unsigned int i)
{
    return (Elf64_Phdr *)(m->b + sizeof(Elf64_Ehdr)) + i;
}

/* Three program headers: PT_LOAD text (linked high, loaded at 1 MiB),
 * PT_GNU_STACK, PT_LOAD data with a zeroed tail at 2 MiB. */
static void valid(struct img *m)
{
    memset(m, 0, sizeof *m);
    Elf64_Ehdr *e = ehdr(m);
    memcpy(e->e_ident, ELFMAG, SELFMAG);
    e->e_ident[EI_CLASS] = ELFCLASS64;
    e->e_ident[EI_DATA] = ELFDATA2LSB;
    e->e_ident[EI_VERSION] = EV_CURRENT;
    e->e_type = ET_EXEC;
    e->e_machine = EM_X86_64;
    e->e_version = EV_CURRENT;
    e->e_entry = 0x100010;
    e->e_phoff = sizeof(Elf64_Ehdr);
    e->e_ehsize = sizeof(Elf64_Ehdr);
    e->e_phentsize = sizeof(Elf64_Phdr);
    e->e_phnum = 3;

    Elf64_Phdr *p = phdr(m, 0);
    p->p_type = PT_LOAD;
    p->p_flags = PF_R | PF_X;
    p->p_offset = 0x100;
    p->p_vaddr = 0xffffffff80100000ull;
    p->p_paddr = 0x100000;
    p->p_filesz = 0x20;
    p->p_memsz = 0x20;
    p->p_align = 0x100;

    p = phdr(m, 1);
    p->p_type = PT_GNU_STACK;
    p->p_flags = PF_R | PF_W;

    p = phdr(m, 2);
    p->p_type = PT_LOAD;
    p->p_flags = PF_R | PF_W;
    p->p_offset = 0x200;
    p->p_vaddr = 0x200000;
    p->p_paddr = 0x200000;
    p->p_filesz = 0x10;
    p->p_memsz = 0x1000;
    p->p_align = 0x100;

    memset(m->b + 0x100, 0x90, 0x20);
    memset(m->b + 0x200, 0xaa, 0x10);
    m->len = 0x210;
}

static int setup(void **state)
{
    (void)state;
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/test_elf.XXXXXX", dir && *dir ? dir : "/tmp");
    fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(fd);
    fd = -1;
    return 0;
}

/* Write the first len bytes of m to the temp file (replacing it) and parse it. */
static int parse_len(const struct img *m, size_t len, struct vmm__elf_segment *segs, size_t *n,
                     uint64_t *entry)
{
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, m->b, len, 0), (ssize_t)len);
    vmm_error_clear();
    return vmm__elf_parse(fd, len, NAME, segs, n, entry);
}

static int parse(const struct img *m, struct vmm__elf_segment *segs, size_t *n, uint64_t *entry)
{
    return parse_len(m, m->len, segs, n, entry);
}

/* The image is refused with VMM_EINVAL and a message naming the file and `what`. */
static void refused_len(const struct img *m, size_t len, const char *what)
{
    struct vmm__elf_segment segs[VMM__ELF_MAX_PHDRS];
    size_t n = VMM__ELF_MAX_PHDRS;
    uint64_t entry = 0x1234;
    int rc = parse_len(m, len, segs, &n, &entry);
    const char *msg = vmm_error_last()->message;
    if (rc != VMM_EINVAL || strncmp(msg, NAME ": ", strlen(NAME) + 2) != 0 || !strstr(msg, what))
        fail_msg("expected VMM_EINVAL with \"%s\", got %d: %s", what, rc, msg);
    assert_int_equal(vmm_error_last()->code, VMM_EINVAL);
    assert_int_equal(entry, 0x1234); /* untouched on error */
    assert_int_equal(n, VMM__ELF_MAX_PHDRS);
}

static void refused(const struct img *m, const char *what)
{
    refused_len(m, m->len, what);
}

static void test_valid(void **state)
{
    (void)state;
    struct img m;
    valid(&m);
    struct vmm__elf_segment segs[VMM__ELF_MAX_PHDRS];
    size_t n = VMM__ELF_MAX_PHDRS;
    uint64_t entry = 0;
    assert_int_equal(parse(&m, segs, &n, &entry), 0);
    assert_int_equal(n, 2);
    assert_int_equal(entry, 0x100010);
    /* p_paddr, not p_vaddr; program-header numbers kept for messages. */
    assert_int_equal(segs[0].index, 0);
    assert_int_equal(segs[0].offset, 0x100);
    assert_int_equal(segs[0].filesz, 0x20);
    assert_int_equal(segs[0].paddr, 0x100000);
    assert_int_equal(segs[0].memsz, 0x20);
    assert_int_equal(segs[1].index, 2);
    assert_int_equal(segs[1].offset, 0x200);
    assert_int_equal(segs[1].filesz, 0x10);
    assert_int_equal(segs[1].paddr, 0x200000);
    assert_int_equal(segs[1].memsz, 0x1000);
    /* entry may be NULL; the file offset is not used (pread only). */
    n = VMM__ELF_MAX_PHDRS;
    assert_int_equal(parse(&m, segs, &n, NULL), 0);
    assert_int_equal(n, 2);
}

static void test_valid_variants(void **state)
{
    (void)state;
    struct img m;
    struct vmm__elf_segment segs[VMM__ELF_MAX_PHDRS];
    size_t n;

    /* ET_DYN loaded where it is linked. */
    valid(&m);
    ehdr(&m)->e_type = ET_DYN;
    n = VMM__ELF_MAX_PHDRS;
    assert_int_equal(parse(&m, segs, &n, NULL), 0);
    assert_int_equal(n, 2);

    /* Segments that touch do not overlap; a pure-.bss segment (p_filesz 0)
     * may have any offset; an empty PT_LOAD is skipped. */
    valid(&m);
    phdr(&m, 2)->p_paddr = 0x100020;
    phdr(&m, 1)->p_type = PT_LOAD;
    phdr(&m, 1)->p_paddr = 0x100000; /* p_memsz 0: no overlap, not loaded */
    n = VMM__ELF_MAX_PHDRS;
    assert_int_equal(parse(&m, segs, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_int_equal(segs[1].index, 2);
    phdr(&m, 2)->p_filesz = 0;
    phdr(&m, 2)->p_offset = 0xffffffffffff0000ull;
    n = VMM__ELF_MAX_PHDRS;
    assert_int_equal(parse(&m, segs, &n, NULL), 0);

    /* The largest accepted program header count. */
    valid(&m);
    ehdr(&m)->e_phnum = VMM__ELF_MAX_PHDRS;
    m.len = sizeof(Elf64_Ehdr) + VMM__ELF_MAX_PHDRS * sizeof(Elf64_Phdr);
    memset(m.b + sizeof(Elf64_Ehdr), 0, m.len - sizeof(Elf64_Ehdr)); /* all PT_NULL */
    Elf64_Phdr *last = phdr(&m, VMM__ELF_MAX_PHDRS - 1);
    last->p_type = PT_LOAD;
    last->p_paddr = 0x300000;
    last->p_memsz = 0x1000;
    n = VMM__ELF_MAX_PHDRS;
    assert_int_equal(parse(&m, segs, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_int_equal(segs[0].index, VMM__ELF_MAX_PHDRS - 1);
}

static void test_bad_ident(void **state)
{
    (void)state;
    struct img m;
    valid(&m);
    m.b[1] = 'e';
    refused(&m, "not an ELF file (bad magic)");
    valid(&m);
    ehdr(&m)->e_ident[EI_CLASS] = ELFCLASS32;
    refused(&m, "ELF class 1 is not ELFCLASS64 (a 32-bit ELF)");
    valid(&m);
    ehdr(&m)->e_ident[EI_DATA] = ELFDATA2MSB;
    refused(&m, "not little-endian (big-endian)");
    valid(&m);
    ehdr(&m)->e_ident[EI_VERSION] = 2;
    refused(&m, "unknown ELF version");
    valid(&m);
    ehdr(&m)->e_version = 0;
    refused(&m, "unknown ELF version");
}

static void test_bad_type_and_machine(void **state)
{
    (void)state;
    struct img m;
    valid(&m);
    ehdr(&m)->e_machine = EM_AARCH64;
    refused(&m, "machine 183 is not x86-64");
    valid(&m);
    ehdr(&m)->e_machine = EM_386;
    refused(&m, "machine 3 is not x86-64");
    valid(&m);
    ehdr(&m)->e_type = ET_REL;
    refused(&m, "ELF type 1 (ET_REL, a relocatable object) is not an executable");
    valid(&m);
    ehdr(&m)->e_type = ET_CORE;
    refused(&m, "ET_CORE");
}

static void test_bad_phdr_table(void **state)
{
    (void)state;
    struct img m;
    valid(&m);
    ehdr(&m)->e_ehsize = 52;
    refused(&m, "e_ehsize 52");
    valid(&m);
    ehdr(&m)->e_phentsize = 32;
    refused(&m, "e_phentsize 32 is not 56");
    valid(&m);
    ehdr(&m)->e_phentsize = 0;
    refused(&m, "e_phentsize 0");

    valid(&m);
    ehdr(&m)->e_phoff = 0x10000;
    refused(&m, "program header table at e_phoff 0x10000 (0xa8 bytes) extends past the end");
    valid(&m);
    ehdr(&m)->e_phoff = UINT64_MAX - 8;
    refused(&m, "extends past the end of the file (528 bytes)");
    /* One byte short of the table. */
    valid(&m);
    ehdr(&m)->e_phoff = m.len - 3 * sizeof(Elf64_Phdr) + 1;
    refused(&m, "program header table");

    valid(&m);
    ehdr(&m)->e_phnum = 0xffff; /* PN_XNUM */
    refused(&m, "65535 program headers, at most 64");
    valid(&m);
    ehdr(&m)->e_phnum = VMM__ELF_MAX_PHDRS + 1;
    refused(&m, "65 program headers");
    valid(&m);
    ehdr(&m)->e_phnum = 0;
    refused(&m, "no PT_LOAD segment");

    /* The file ends inside the second program header. */
    valid(&m);
    refused_len(&m, sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 20, "program header table");
}

static void test_bad_segments(void **state)
{
    (void)state;
    struct img m;

    valid(&m);
    phdr(&m, 2)->p_filesz = 0x11; /* one byte past EOF */
    refused(&m, "segment 2: file bytes [0x200, 0x211) extend past the end of the file");
    valid(&m);
    phdr(&m, 0)->p_offset = 0x10000;
    refused(&m, "segment 0: file bytes [0x10000, 0x10020) extend past the end");

    valid(&m);
    phdr(&m, 0)->p_offset = UINT64_MAX - 0x10;
    refused(&m, "segment 0: p_offset 0xffffffffffffffef + p_filesz 0x20 overflows");

    valid(&m);
    phdr(&m, 0)->p_memsz = 0x1f;
    refused(&m, "segment 0: p_filesz 0x20 is larger than p_memsz 0x1f");

    valid(&m);
    phdr(&m, 2)->p_paddr = UINT64_MAX - 0xfff + 1;
    refused(&m, "segment 2: p_paddr 0xfffffffffffff001 + p_memsz 0x1000 overflows");
    valid(&m);
    phdr(&m, 2)->p_memsz = UINT64_MAX;
    phdr(&m, 2)->p_paddr = 1;
    refused(&m, "overflows");
}

static void test_overlap(void **state)
{
    (void)state;
    struct img m;
    valid(&m);
    phdr(&m, 2)->p_paddr = 0x10001f; /* last byte of segment 0 */
    refused(&m, "segments 0 [0x100000, 0x100020) and 2 [0x10001f, 0x10101f) overlap in guest "
                "memory");
    /* One inside the other, either order. */
    valid(&m);
    phdr(&m, 0)->p_paddr = 0x200100;
    refused(&m, "overlap in guest memory");
    valid(&m);
    phdr(&m, 2)->p_paddr = 0xff001; /* its last byte is segment 0's first */
    refused(&m, "overlap in guest memory");
}

static void test_no_load(void **state)
{
    (void)state;
    struct img m;
    valid(&m);
    phdr(&m, 0)->p_type = PT_NOTE;
    phdr(&m, 2)->p_type = PT_DYNAMIC;
    refused(&m, "no PT_LOAD segment");
    valid(&m);
    phdr(&m, 0)->p_memsz = phdr(&m, 0)->p_filesz = 0;
    phdr(&m, 2)->p_memsz = phdr(&m, 2)->p_filesz = 0;
    refused(&m, "every PT_LOAD segment is empty");
}

static void test_truncated(void **state)
{
    (void)state;
    struct img m;
    valid(&m);
    refused_len(&m, 0, "truncated ELF header: the file is 0 bytes, need 64");
    refused_len(&m, 3, "truncated ELF header: the file is 3 bytes");
    refused_len(&m, 10, "truncated ELF header: the file is 10 bytes");
    refused_len(&m, 63, "truncated ELF header: the file is 63 bytes");
    refused_len(&m, 64 + 20, "program header table at e_phoff 0x40 (0xa8 bytes) extends past");
    refused_len(&m, 0x100, "segment 0: file bytes [0x100, 0x120) extend past the end");
    refused_len(&m, 0x20f, "segment 2: file bytes [0x200, 0x210) extend past the end");
    /* Every shorter length is refused (each cut removes bytes a header or a
     * segment needs), and none crashes. */
    for (size_t len = 0; len < m.len; len++)
        refused_len(&m, len, "");
}

static void test_limits(void **state)
{
    (void)state;
    struct img m;
    valid(&m);
    struct vmm__elf_segment segs[VMM__ELF_MAX_PHDRS];
    size_t n = VMM__ELF_MAX_PHDRS;
    /* The size cap is checked before reading: nothing is allocated for it. */
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(vmm__elf_parse(fd, VMM__ELF_MAX_FILE_SIZE + 1, NAME, segs, &n, NULL),
                     VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "t.elf: file is 1073741825 bytes"));
    /* Fewer slots than segments. */
    n = 1;
    assert_int_equal(parse(&m, segs, &n, NULL), VMM_EINVAL);
    assert_non_null(strstr(vmm_error_last()->message, "more than 1 PT_LOAD segments"));
    /* A file shorter than the size claimed is a read error, not a crash. */
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, m.b, 40, 0), 40);
    n = VMM__ELF_MAX_PHDRS;
    assert_int_equal(vmm__elf_parse(fd, m.len, NAME, segs, &n, NULL), VMM_EIO);
    assert_non_null(strstr(vmm_error_last()->message, "t.elf: read at offset"));
    /* Bad arguments. */
    assert_int_equal(vmm__elf_parse(-1, m.len, NAME, segs, &n, NULL), VMM_EINVAL);
    assert_int_equal(vmm__elf_parse(fd, m.len, NAME, NULL, &n, NULL), VMM_EINVAL);
}

/* Random corruption of the valid image: every result is either a refusal or
 * segments that lie in the file and are disjoint in guest memory. */
static void test_mutations(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int iter = 0; iter < 3000; iter++) {
        struct img m;
        valid(&m);
        int flips = 1 + iter % 4;
        for (int k = 0; k < flips; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = (size_t)(x % (sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr)));
            m.b[at] = (uint8_t)(x >> 32);
        }
        struct vmm__elf_segment segs[VMM__ELF_MAX_PHDRS];
        size_t n = VMM__ELF_MAX_PHDRS;
        int rc = parse(&m, segs, &n, NULL);
        if (rc != 0) {
            assert_int_equal(rc, VMM_EINVAL);
            assert_int_equal(strncmp(vmm_error_last()->message, NAME ": ", 7), 0);
            continue;
        }
        assert_true(n >= 1 && n <= 3);
        for (size_t i = 0; i < n; i++) {
            assert_true(segs[i].filesz <= segs[i].memsz);
            assert_true(segs[i].filesz == 0 ||
                        (segs[i].offset <= m.len && segs[i].filesz <= m.len - segs[i].offset));
            assert_true(segs[i].memsz <= UINT64_MAX - segs[i].paddr);
            for (size_t j = 0; j < i; j++)
                assert_true(segs[i].paddr >= segs[j].paddr + segs[j].memsz ||
                            segs[j].paddr >= segs[i].paddr + segs[i].memsz);
        }
    }
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_valid),          T(test_valid_variants),
        T(test_bad_ident),      T(test_bad_type_and_machine),
        T(test_bad_phdr_table), T(test_bad_segments),
        T(test_overlap),        T(test_no_load),
        T(test_truncated),      T(test_limits),
        T(test_mutations),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
