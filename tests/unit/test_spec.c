/* SPDX-License-Identifier: MIT */
/* Unit tests of vmm_spec_check() (no KVM): the bad-spec corpus in tests/spec/bad
 * with its EXPECTED messages, bad specs generated here (too big to commit or
 * holding NUL bytes), good specs, how relative paths resolve, and that a
 * check opens no host resource. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvmm/vmm.h>

#include "../common/count_calls.h"

#ifndef LIBVMM_SOURCE_DIR
#error "LIBVMM_SOURCE_DIR must name the source tree"
#endif
#define BAD_DIR      LIBVMM_SOURCE_DIR "/tests/spec/bad"
#define FILES_DIR    LIBVMM_SOURCE_DIR "/tests/spec/files"
#define SPEC_MAX_LEN (1u << 20) /* the parser's limit, spec.h */

/* ---- helpers ---- */

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const void *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        assert_non_null(p);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void putf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof tmp);
    put(b, tmp, (size_t)n);
}

static void repeat(struct buf *b, const char *s, size_t times)
{
    for (size_t i = 0; i < times; i++)
        puts_(b, s);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        put(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return b.p ? b.p : calloc(1, 1);
}

static void write_file(const char *path, const void *data, size_t len, off_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    if (size > (off_t)len)
        assert_int_equal(ftruncate(fd, size), 0); /* sparse: no disk used */
    close(fd);
}

/* Threads of this process. */
static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Whether the spec is rejected with VMM_ECONFIG and a message containing
 * `expect`; says what happened when not, so one run lists every failure. */
static bool rejects(const char *what, const char *json, size_t len, const char *base_dir,
                    const char *expect)
{
    int rc = vmm_spec_check(json, len, base_dir);
    const char *msg = rc ? vmm_error_last()->message : "";
    if (rc == VMM_ECONFIG && strstr(msg, expect))
        return true;
    print_error("%s: got %d \"%s\", want %d (VMM_ECONFIG) with \"%s\"\n", what, rc, msg,
                VMM_ECONFIG, expect);
    return false;
}

static bool accepts(const char *what, const char *json, size_t len, const char *base_dir)
{
    int rc = vmm_spec_check(json, len, base_dir);
    if (rc == 0)
        return true;
    print_error("%s: got %d \"%s\", want 0\n", what, rc, vmm_error_last()->message);
    return false;
}

/* ---- the corpus: tests/spec/bad/NAME.json, expectations in EXPECTED ---- */

struct expected {
    char *name, *substring;
};

static size_t load_expected(struct expected **out)
{
    FILE *f = fopen(BAD_DIR "/EXPECTED", "r");
    assert_non_null(f);
    struct expected *e = NULL;
    size_t n = 0, lineno = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = 0;
        char *tab = strchr(line, '\t');
        if (!tab || tab == line || !tab[1]) {
            print_error("EXPECTED:%zu: want \"NAME.json<TAB>substring\"\n", lineno);
            fail();
        }
        *tab = 0;
        size_t nl = strlen(line);
        /* A bare file name, and an expectation that names a JSON path. */
        assert_true(nl > 5 && strcmp(line + nl - 5, ".json") == 0 && !strchr(line, '/'));
        if (!strstr(tab + 1, ": ")) {
            print_error("EXPECTED:%zu: \"%s\" does not name a JSON path\n", lineno, tab + 1);
            fail();
        }
        for (size_t k = 0; k < n; k++)
            if (strcmp(e[k].name, line) == 0) {
                print_error("EXPECTED:%zu: %s listed twice\n", lineno, line);
                fail();
            }
        struct expected *ne = realloc(e, (n + 1) * sizeof *e);
        assert_non_null(ne);
        e = ne;
        e[n].name = strdup(line);
        e[n].substring = strdup(tab + 1);
        assert_true(e[n].name && e[n].substring);
        n++;
    }
    free(line);
    fclose(f);
    *out = e;
    return n;
}

static void free_expected(struct expected *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].name);
        free(e[i].substring);
    }
    free(e);
}

static void test_corpus(void **state)
{
    (void)state;
    struct expected *e;
    size_t n = load_expected(&e), failed = 0;
    assert_true(n >= 45);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", BAD_DIR, e[i].name);
        size_t len;
        char *json = read_all(path, &len);
        if (!json) {
            print_error("%s: listed in EXPECTED but missing\n", e[i].name);
            failed++;
            continue;
        }
        if (!rejects(e[i].name, json, len, BAD_DIR, e[i].substring))
            failed++;
        free(json);
    }
    print_message("corpus: %zu bad specs, %zu not rejected as expected\n", n, failed);
    free_expected(e, n);
    assert_int_equal(failed, 0);
}

/* Every .json in the directory has a line in EXPECTED. */
static void test_corpus_complete(void **state)
{
    (void)state;
    struct expected *e;
    size_t n = load_expected(&e), unlisted = 0;
    DIR *d = opendir(BAD_DIR);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t nl = strlen(de->d_name);
        if (nl < 5 || strcmp(de->d_name + nl - 5, ".json") != 0)
            continue;
        bool listed = false;
        for (size_t i = 0; i < n && !listed; i++)
            listed = strcmp(e[i].name, de->d_name) == 0;
        if (!listed) {
            print_error("%s: not listed in EXPECTED\n", de->d_name);
            unlisted++;
        }
    }
    closedir(d);
    free_expected(e, n);
    assert_int_equal(unlisted, 0);
}

/* ---- bad specs generated here ---- */

#define MINIMAL                                                                                    \
    "{\"memory\": {\"size\": \"2M\"}, \"boot\": {\"kind\": \"flat\", \"path\": \"flat.bin\"}"

static void gen_deep_arrays(struct buf *b)
{
    repeat(b, "[", 10000);
}

static void gen_deep_arrays_closed(struct buf *b)
{
    repeat(b, "[", 10000);
    repeat(b, "]", 10000);
}

static void gen_deep_objects(struct buf *b)
{
    repeat(b, "{\"a\":", 10000);
    puts_(b, "1");
    repeat(b, "}", 10000);
}

/* Valid but for 40 levels inside an otherwise good spec. */
static void gen_deep_in_spec(struct buf *b)
{
    puts_(b, MINIMAL ", \"limits\": {\"time_budget_ms\": ");
    repeat(b, "[", 40);
    repeat(b, "]", 40);
    puts_(b, "}}");
}

static void gen_deep_mixed(struct buf *b)
{
    repeat(b, "[{\"a\":", 5000);
}

static void gen_nul_first(struct buf *b)
{
    put(b, "\0" MINIMAL "}", sizeof MINIMAL + 1);
}

static void gen_nul_in_string(struct buf *b)
{
    /* {"name": "vm\0x", ... : the NUL is at offset 12 */
    put(b, "{\"name\": \"vm\0x\", ", 17);
    puts_(b, &MINIMAL[1]);
    puts_(b, "}");
}

static void gen_nul_after(struct buf *b)
{
    puts_(b, MINIMAL "}");
    put(b, "\0", 1);
}

static void gen_nul_as_whitespace(struct buf *b)
{
    puts_(b, MINIMAL ",");
    put(b, "\0", 1);
    puts_(b, "\"vcpus\": 1}");
}

static void gen_65_devices(struct buf *b)
{
    puts_(b, MINIMAL ", \"devices\": [");
    for (int i = 0; i < 65; i++)
        putf(b, "%s{\"type\": \"debug-exit\", \"port\": %d, \"size\": 1}", i ? ", " : "",
             0x100 + i);
    puts_(b, "]}");
}

static void gen_1000_devices(struct buf *b)
{
    puts_(b, MINIMAL ", \"devices\": [");
    for (int i = 0; i < 1000; i++)
        putf(b, "%s{\"type\": \"serial\"}", i ? ", " : "");
    puts_(b, "]}");
}

static void gen_too_long(struct buf *b)
{
    puts_(b, MINIMAL "}");
    while (b->len <= SPEC_MAX_LEN)
        puts_(b, " ");
}

static void gen_long_key(struct buf *b)
{
    /* An unknown key longer than any message: reported, cut, without overflow. */
    puts_(b, MINIMAL ", \"");
    repeat(b, "k", 100000);
    puts_(b, "\": 1}");
}

static void gen_long_nested_path(struct buf *b)
{
    /* A duplicate key under a path longer than the message buffer. */
    puts_(b, MINIMAL ", \"limits\": {");
    for (int i = 0; i < 20; i++) {
        putf(b, "\"");
        repeat(b, "p", 30);
        putf(b, "%d\": {", i);
    }
    puts_(b, "\"x\": 1, \"x\": 2");
    repeat(b, "}", 20);
    puts_(b, "}}");
}

static const struct {
    const char *name;
    void (*gen)(struct buf *b);
    const char *expect;
} generated_bad[] = {
    {"10000 [", gen_deep_arrays, "(spec): invalid JSON: nested deeper than 32 levels"},
    {"10000 [ closed", gen_deep_arrays_closed,
     "(spec): invalid JSON: nested deeper than 32 levels"},
    {"10000 {\"a\":", gen_deep_objects, "(spec): invalid JSON: nested deeper than 32 levels"},
    {"40 levels in limits", gen_deep_in_spec, "(spec): invalid JSON: nested deeper than 32 levels"},
    {"5000 [{\"a\":", gen_deep_mixed, "(spec): invalid JSON: nested deeper than 32 levels"},
    {"NUL first", gen_nul_first, "(spec): contains a NUL byte at offset 0"},
    {"NUL in a string", gen_nul_in_string, "(spec): contains a NUL byte at offset 12"},
    {"NUL after the spec", gen_nul_after, "(spec): contains a NUL byte at offset"},
    {"NUL between members", gen_nul_as_whitespace, "(spec): contains a NUL byte at offset"},
    {"65 devices", gen_65_devices, "devices: at most 64 devices"},
    {"1000 devices", gen_1000_devices, "devices: at most 64 devices"},
    {"longer than 1 MiB", gen_too_long, "(spec): longer than 1048576 bytes"},
    {"100000-byte key", gen_long_key, "kkkkkkkk"},
    {"deep path, duplicate key", gen_long_nested_path, "limits.ppp"},
};

static void test_generated_bad(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < sizeof generated_bad / sizeof *generated_bad; i++) {
        struct buf b = {0};
        generated_bad[i].gen(&b);
        if (!rejects(generated_bad[i].name, b.p, b.len, FILES_DIR, generated_bad[i].expect))
            failed++;
        free(b.p);
    }
    assert_int_equal(failed, 0);
}

static void test_null_spec(void **state)
{
    (void)state;
    assert_true(rejects("NULL", NULL, 0, NULL, "(spec): no spec given"));
    assert_true(rejects("NULL, len 10", NULL, 10, FILES_DIR, "(spec): no spec given"));
}

/* Each byte 0x80..0xff alone (not a valid UTF-8 sequence) inside a string. */
static void test_invalid_utf8_bytes(void **state)
{
    (void)state;
    size_t failed = 0;
    for (unsigned int c = 0x80; c <= 0xff; c++) {
        struct buf b = {0};
        char what[32];
        snprintf(what, sizeof what, "byte 0x%02x in an id", c);
        puts_(&b, MINIMAL ", \"devices\": [{\"type\": \"serial\", \"id\": \"a");
        char ch = (char)c;
        put(&b, &ch, 1);
        puts_(&b, "b\"}]}");
        if (!rejects(what, b.p, b.len, FILES_DIR, "(spec): invalid UTF-8 at offset"))
            failed++;
        free(b.p);
    }
    assert_int_equal(failed, 0);
}

/* Every proper prefix of a good spec is truncated JSON. */
static const char all_fields[] =
    "{\n"
    "  \"name\": \"all-fields_1.0\",\n"
    "  \"uuid\": \"123E4567-E89B-12D3-A456-426614174000\",\n"
    "  \"vcpus\": 2,\n"
    "  \"irqchip\": true,\n"
    "  \"memory\": {\"size\": 4194304, \"hugepages\": true,\n"
    "             \"files\": [{\"path\": \"flat.bin\", \"address\": \"0x100000000\"}]},\n"
    "  \"cpu\": {\"mode\": \"long\", \"cpl\": 0, \"entry\": \"0x10000\", \"stack\": \"0x9000\",\n"
    "          \"affinity\": [0], \"weight\": 512, \"cap\": 100},\n"
    "  \"boot\": {\"kind\": \"flat\", \"path\": \"flat.bin\", \"address\": \"0x10000\"},\n"
    "  \"devices\": [\n"
    "    {\"type\": \"serial\", \"id\": \"com1\", \"console\": true, \"port\": \"0x3f8\", \"irq\": "
    "4},\n"
    "    {\"type\": \"serial\", \"id\": \"com2\", \"console\": false, \"mmio\": \"0xd0001000\", "
    "\"irq\": 3},\n"
    "    {\"type\": \"debug-exit\", \"id\": \"exit\", \"port\": \"0xf4\", \"size\": 1}\n"
    "  ],\n"
    "  \"limits\": {\"time_budget_ms\": 10000}\n"
    "}\n";

static void test_every_prefix(void **state)
{
    (void)state;
    size_t end = (size_t)(strrchr(all_fields, '}') - all_fields), failed = 0;
    for (size_t len = 0; len <= end; len++) {
        char what[32];
        snprintf(what, sizeof what, "prefix of %zu bytes", len);
        /* A copy of exactly len bytes, so ASan sees any read past the end. */
        char *cut = malloc(len ? len : 1);
        assert_non_null(cut);
        memcpy(cut, all_fields, len);
        if (!rejects(what, cut, len, FILES_DIR, "(spec): invalid JSON"))
            failed++;
        free(cut);
    }
    assert_int_equal(failed, 0);
}

/* Images and ROM files too large to commit, made sparse at run time. */
static void test_large_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/libvmm-test-spec-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char big[PATH_MAX], fits[PATH_MAX], rom[PATH_MAX];
    snprintf(big, sizeof big, "%s/big.bin", dir);
    snprintf(fits, sizeof fits, "%s/fits.bin", dir);
    snprintf(rom, sizeof rom, "%s/rom.bin", dir);
    write_file(big, "\xf4", 1, 3 << 20);
    write_file(fits, "\xf4", 1, (2 << 20) - 0x10000); /* exactly to the end of RAM */
    write_file(rom, "\xf4", 1, 8192);

    static const char image[] = "{\"memory\": {\"size\": \"2M\"}, "
                                "\"boot\": {\"kind\": \"flat\", \"path\": \"%s\"}}";
    static const char image_one_more[] = "{\"memory\": {\"size\": \"2M\"}, "
                                         "\"boot\": {\"kind\": \"flat\", \"path\": \"%s\", "
                                         "\"address\": \"0x10001\"}}";
    static const char file[] =
        "{\"memory\": {\"size\": \"2M\", \"files\": "
        "[{\"path\": \"%s\", \"address\": \"%s\"}]}, "
        "\"boot\": {\"kind\": \"flat\", \"path\": \"" FILES_DIR "/flat.bin\"}}";
    char json[1024];
    bool ok = true;
    snprintf(json, sizeof json, image, "big.bin");
    ok &= rejects("3 MiB image", json, strlen(json), dir,
                  "boot.address: an image of 3145728 bytes at 0x10000 does not fit in "
                  "memory.size (0x200000)");
    snprintf(json, sizeof json, image, "fits.bin");
    ok &= accepts("image to the end of RAM", json, strlen(json), dir);
    snprintf(json, sizeof json, image_one_more, "fits.bin");
    ok &= rejects("image one byte past RAM", json, strlen(json), dir,
                  "boot.address: an image of 2031616 bytes at 0x10001 does not fit");
    snprintf(json, sizeof json, file, "rom.bin", "0xffffffffff000");
    ok &= rejects("ROM across 2^52", json, strlen(json), dir,
                  "memory.files[0].address: the file does not fit below 2^52");
    snprintf(json, sizeof json, file, "rom.bin", "0xffffffffe000");
    ok &= accepts("ROM below 2^48", json, strlen(json), dir);

    unlink(big);
    unlink(fits);
    unlink(rom);
    rmdir(dir);
    assert_true(ok);
}

/* ---- good specs (paths relative to tests/spec/files) ---- */

static const struct {
    const char *name, *json;
} good[] = {
    {"minimal", "{\"memory\": {\"size\": \"1M\"}, \"boot\": {\"kind\": \"flat\", \"path\": "
                "\"flat.bin\"}}"},
    {"all fields", all_fields},
    {"number strings",
     "{\"memory\": {\"size\": \"0x200000\"},\n"
     " \"cpu\": {\"stack\": \"36K\", \"entry\": \"0x10000\", \"weight\": \"0x100\", \"cap\": "
     "\"50\"},\n"
     " \"boot\": {\"kind\": \"flat\", \"path\": \"flat.bin\", \"address\": \"0x10000\"},\n"
     " \"devices\": [{\"type\": \"debug-exit\", \"mmio\": \"3G\", \"size\": \"4\"}],\n"
     " \"limits\": {\"time_budget_ms\": \"1K\"}, \"vcpus\": \"2\"}"},
    {"2M and 0x10000", "{\"memory\": {\"size\": \"2M\"}, \"boot\": {\"kind\": \"flat\", \"path\": "
                       "\"flat.bin\", \"address\": \"0x10000\"}}"},
    {"plain numbers", "{\"vcpus\": 256, \"memory\": {\"size\": 2097152}, \"cpu\": {\"weight\": 1, "
                      "\"cap\": 0, \"stack\": 36864}, \"boot\": {\"kind\": \"flat\", \"path\": "
                      "\"flat.bin\", \"address\": 65536}, \"limits\": {\"time_budget_ms\": 0}}"},
    {"real mode",
     "{\"memory\": {\"size\": \"1M\"}, \"cpu\": {\"mode\": \"real\", \"cpl\": 0, \"stack\": "
     "\"0x8000\"},\n \"boot\": {\"kind\": \"flat\", \"path\": \"flat.bin\", \"address\": "
     "\"0x7c00\"},\n \"devices\": [{\"type\": \"serial\", \"console\": true}, {\"type\": "
     "\"debug-exit\", \"size\": 1}]}"},
    {"real mode, 4 KiB", "{\"memory\": {\"size\": 4096}, \"cpu\": {\"mode\": \"real\"}, \"boot\": "
                         "{\"kind\": \"flat\", \"path\": \"flat.bin\", \"address\": 0}}"},
    {"protected mode", "{\"memory\": {\"size\": \"2M\"}, \"cpu\": {\"mode\": \"protected\", "
                       "\"stack\": \"0x9000\", \"entry\": \"0xffffffff\"}, \"boot\": {\"kind\": "
                       "\"flat\", \"path\": \"flat.bin\"}}"},
    {"long mode, CPL 3",
     "{\"name\": \"compute-cpl3\", \"memory\": {\"size\": \"2M\"},\n \"cpu\": {\"mode\": \"long\", "
     "\"cpl\": 3, \"stack\": \"0x9000\", \"weight\": 256, \"cap\": 50},\n \"boot\": {\"kind\": "
     "\"flat\", \"path\": \"flat.bin\"},\n \"devices\": [{\"type\": \"debug-exit\", \"mmio\": "
     "\"0xd0000000\", \"size\": 4}],\n \"limits\": {\"time_budget_ms\": 10000}}"},
    {"memory.files and cpu.entry, no boot",
     "{\"memory\": {\"size\": \"64K\", \"files\": [{\"path\": \"flat.bin\", \"address\": \"4G\"}, "
     "{\"path\": \"flat.bin\", \"address\": \"0x100001000\"}]}, \"cpu\": {\"entry\": \"4G\"}}"},
    {"affinity [0]", "{\"memory\": {\"size\": \"2M\"}, \"cpu\": {\"affinity\": [0]}, \"boot\": "
                     "{\"kind\": \"flat\", \"path\": \"flat.bin\"}}"},
    {"empty sections",
     "{\"memory\": {\"size\": \"2M\", \"files\": [], \"hugepages\": false}, \"cpu\": {}, "
     "\"boot\": {\"kind\": \"flat\", \"path\": \"flat.bin\"}, \"devices\": [], \"limits\": {}}"},
    {"CRLF, tabs and trailing whitespace",
     "\r\n\t{\r\n\t\"memory\"\t:\t{ \"size\" : \"2M\" } ,\r\n\t\"boot\": {\"kind\": \"flat\", "
     "\"path\": \"flat.bin\"}\r\n}\r\n\t \n"},
    {"escapes and UTF-8",
     "{\"name\": \"\\u0076m\", \"memory\": {\"size\": \"2M\"}, \"boot\": {\"kind\": \"flat\", "
     "\"path\": \"fl\\u0061t.bin\"}, \"devices\": [{\"type\": \"serial\", \"id\": "
     "\"caf\xc3\xa9-\\u00e9\"}, {\"type\": \"debug-exit\", \"id\": \"\xf0\x9f\x9a\xaa\"}]}"},
    {"longest name and id",
     "{\"name\": \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\", "
     "\"memory\": {\"size\": \"2M\"}, \"boot\": {\"kind\": \"flat\", \"path\": \"flat.bin\"}, "
     "\"devices\": [{\"type\": \"serial\", \"id\": \"iiiiiiiiiiiiiiiiiiiiiiiiiiiiiii\"}]}"},
    {"keys in any order",
     "{\"boot\": {\"path\": \"flat.bin\", \"kind\": \"flat\"}, \"cpu\": {\"cpl\": 3, \"mode\": "
     "\"protected\"}, \"memory\": {\"size\": \"2M\"}, \"name\": \"late\"}"},
    {"serial ports side by side",
     "{\"memory\": {\"size\": \"2M\"}, \"boot\": {\"kind\": \"flat\", \"path\": \"flat.bin\"}, "
     "\"devices\": [{\"type\": \"serial\", \"port\": \"0x3f8\"}, {\"type\": \"serial\", \"port\": "
     "\"0x400\"}, {\"type\": \"debug-exit\", \"port\": \"0x3f0\", \"size\": 4}, {\"type\": "
     "\"debug-exit\", \"mmio\": \"0x200000\", \"size\": 2}]}"},
};

/* ELF images are validated while checking: the headers, and where the
 * segments land (a guest image built by this project serves as the ELF). */
static void test_elf_boot(void **state)
{
    (void)state;
    char json[1024];
    const char *elf = LIBVMM_GUEST_DIR "/hello_long.elf";
    snprintf(json, sizeof json,
             "{\"memory\": {\"size\": \"2M\"}, \"boot\": {\"kind\": \"elf\", \"path\": \"%s\"},"
             " \"devices\": [{\"type\": \"serial\", \"console\": true}]}",
             elf);
    assert_int_equal(vmm_spec_check(json, strlen(json), NULL), 0);
    snprintf(json, sizeof json,
             "{\"memory\": {\"size\": \"64K\"}, \"boot\": {\"kind\": \"elf\", \"path\": \"%s\"}}",
             elf);
    assert_true(rejects("ELF segment beyond RAM", json, strlen(json), NULL,
                        "boot.path: segment 0 [0x10000, "));
    snprintf(json, sizeof json,
             "{\"memory\": {\"size\": \"2M\"}, \"boot\": {\"kind\": \"elf\", \"path\": "
             "\"flat.bin\"}}");
    assert_true(rejects("not an ELF", json, strlen(json), FILES_DIR, "boot.path: "));
    assert_non_null(strstr(vmm_error_last()->message, "not an ELF file"));
}

static void test_good(void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!accepts(good[i].name, good[i].json, strlen(good[i].json), FILES_DIR))
            failed++;
    assert_int_equal(failed, 0);
}

static void test_generated_good(void **state)
{
    (void)state;
    struct buf b = {0};
    puts_(&b, MINIMAL ", \"devices\": [");
    for (int i = 0; i < 64; i++)
        putf(&b, "%s{\"type\": \"debug-exit\", \"id\": \"d%d\", \"port\": %d, \"size\": 1}",
             i ? ", " : "", i, 0x100 + i);
    puts_(&b, "]}");
    bool ok = accepts("64 devices", b.p, b.len, FILES_DIR);
    /* Padded to exactly the 1 MiB limit. */
    b.len = 0;
    puts_(&b, MINIMAL "}");
    while (b.len < SPEC_MAX_LEN)
        puts_(&b, "\n");
    ok &= accepts("exactly 1 MiB", b.p, b.len, FILES_DIR);
    /* 31 levels of nesting inside the spec (32 with the top level). */
    b.len = 0;
    puts_(&b, "{\"memory\": {\"size\": \"2M\", \"files\": ");
    repeat(&b, "[", 30);
    repeat(&b, "]", 30);
    puts_(&b, "}}");
    ok &= rejects("31 levels", b.p, b.len, FILES_DIR, "memory.files[0]: must be an object");
    free(b.p);
    assert_true(ok);
}

/* ---- relative paths: base_dir, or the current directory for NULL ---- */

static void test_base_dir(void **state)
{
    (void)state;
    static const char rel[] = "{\"memory\": {\"size\": \"2M\", \"files\": [{\"path\": "
                              "\"flat.bin\", \"address\": \"4G\"}]}, \"boot\": {\"kind\": "
                              "\"flat\", \"path\": \"flat.bin\"}}";
    static const char up[] = "{\"memory\": {\"size\": \"2M\"}, \"boot\": {\"kind\": \"flat\", "
                             "\"path\": \"../files/flat.bin\"}}";
    static const char abs[] = "{\"memory\": {\"size\": \"2M\"}, \"boot\": {\"kind\": \"flat\", "
                              "\"path\": \"" FILES_DIR "/flat.bin\"}}";
    static const char rom_only[] = "{\"memory\": {\"size\": \"2M\", \"files\": [{\"path\": "
                                   "\"flat.bin\", \"address\": \"4G\"}]}, \"cpu\": {\"entry\": "
                                   "0}}";
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    bool ok = true;

    ok &= accepts("base_dir = files", rel, strlen(rel), FILES_DIR);
    ok &= accepts("base_dir = files/", rel, strlen(rel), FILES_DIR "/");
    ok &=
        rejects("base_dir = bad", rel, strlen(rel), BAD_DIR, "memory.files[0].path: no such file");
    ok &= rejects("boot.path, base_dir = bad", MINIMAL "}", strlen(MINIMAL "}"), BAD_DIR,
                  "boot.path: no such file");
    ok &= rejects("memory.files, base_dir = bad", rom_only, strlen(rom_only), BAD_DIR,
                  "memory.files[0].path: no such file");
    ok &= accepts("../ from bad", up, strlen(up), BAD_DIR);
    ok &= accepts("absolute, base_dir = bad", abs, strlen(abs), BAD_DIR);
    ok &= accepts("absolute, base_dir = NULL", abs, strlen(abs), NULL);

    /* NULL: relative to the current directory, whatever it is. */
    assert_int_equal(chdir(FILES_DIR), 0);
    ok &= accepts("NULL in files", rel, strlen(rel), NULL);
    ok &= accepts("../ with NULL in files", up, strlen(up), NULL);
    assert_int_equal(chdir(BAD_DIR), 0);
    ok &= rejects("NULL in bad", rel, strlen(rel), NULL, "memory.files[0].path: no such file");
    ok &= accepts("../ with NULL in bad", up, strlen(up), NULL);
    ok &= accepts("files with base_dir, cwd elsewhere", rel, strlen(rel), FILES_DIR);
    assert_int_equal(chdir("/"), 0);
    ok &= rejects("../ with NULL in /", up, strlen(up), NULL, "boot.path: no such file");
    ok &= accepts("relative base_dir", rel, strlen(rel), &FILES_DIR[1]); /* from / */

    assert_int_equal(chdir(cwd), 0);
    assert_true(ok);
}

/* Checking a spec opens none of its devices' host resources: no disk image,
 * no TAP device, no vsock socket, no thread for a stdio console. What the
 * devices would refuse is still found. */
static void test_check_opens_nothing(void **state)
{
    (void)state;
    char dir[] = "/tmp/libvmm-spec-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char disk[64], sock[64], json[2048];
    snprintf(disk, sizeof disk, "%s/disk.img", dir);
    snprintf(sock, sizeof sock, "%s/vsock", dir);
    write_file(disk, "x", 1, 1 << 20);
    const char *fmt = "{\"memory\": {\"size\": \"2M\"}, \"boot\": {\"kind\": \"flat\", \"path\": "
                      "\"flat.bin\"}, \"devices\": ["
                      "{\"type\": \"virtio-blk\", \"mmio\": \"0xd0000000\", \"path\": \"%s\"}, "
                      "{\"type\": \"virtio-vsock\", \"mmio\": \"0xd0001000\", \"guest_cid\": 3, "
                      "\"uds_path\": \"%s\"}, "
                      "{\"type\": \"virtio-net\", \"mmio\": \"0xd0002000\", \"backend\": \"tap\", "
                      "\"tap\": \"lvmmcheck0\"}, "
                      "{\"type\": \"virtio-console\", \"mmio\": \"0xd0003000\", \"backend\": "
                      "\"stdio\"}]}";
    snprintf(json, sizeof json, fmt, disk, sock);
    int threads = count_threads();
    count_calls_reset(disk, sock);
    for (int i = 0; i < 3; i++)
        assert_true(
            accepts("a spec with every kind of host resource", json, strlen(json), FILES_DIR));
    assert_int_equal(count_file_opens, 0);
    assert_int_equal(count_tun_opens, 0);
    assert_int_equal(count_binds, 0);
    assert_int_equal(count_threads(), threads);
    struct stat st;
    assert_int_equal(stat(sock, &st), -1); /* no socket left behind */

    /* Found all the same: a missing image, an image it may not write, a
     * socket path already taken or in no directory. */
    char bad[2048];
    snprintf(bad, sizeof bad, fmt, "/nonexistent/disk.img", sock);
    assert_true(rejects("no image", bad, strlen(bad), FILES_DIR,
                        "devices[0].path: /nonexistent/disk.img: No such file or directory"));
    if (geteuid() != 0) { /* root may write any file */
        assert_int_equal(chmod(disk, 0444), 0);
        assert_true(rejects("read-only image", json, strlen(json), FILES_DIR, "devices[0].path: "));
        assert_non_null(strstr(vmm_error_last()->message, "Permission denied"));
        assert_int_equal(chmod(disk, 0644), 0);
    }
    write_file(sock, "", 0, 0);
    assert_true(
        rejects("socket path taken", json, strlen(json), FILES_DIR, "devices[1].uds_path: "));
    assert_non_null(strstr(vmm_error_last()->message, "remove the stale socket first"));
    assert_int_equal(unlink(sock), 0);
    snprintf(bad, sizeof bad, fmt, disk, "/nonexistent/vsock");
    assert_true(rejects("socket in no directory", bad, strlen(bad), FILES_DIR,
                        "devices[1].uds_path: /nonexistent/vsock: No such file or directory"));
    assert_int_equal(count_file_opens, 0);
    assert_int_equal(count_tun_opens, 0);
    assert_int_equal(count_binds, 0);
    /* The count sees libvmm's opens: loading the image as a snapshot opens it
     * (and refuses it). */
    vmm_snapshot *snap = NULL;
    assert_int_not_equal(vmm_snapshot_load(disk, &snap), 0);
    assert_null(snap);
    assert_int_equal(count_file_opens, 1);
    unlink(disk);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_corpus_complete),
        cmocka_unit_test(test_generated_bad),
        cmocka_unit_test(test_null_spec),
        cmocka_unit_test(test_invalid_utf8_bytes),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_large_files),
        cmocka_unit_test(test_elf_boot),
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_generated_good),
        cmocka_unit_test(test_base_dir),
        cmocka_unit_test(test_check_opens_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
