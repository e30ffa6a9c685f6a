/* SPDX-License-Identifier: MIT */
/* JSON VM spec (docs/spec.md): strict parsing with json-c into a plain
 * description (struct spec), with a JSON path in every error: the document,
 * memory, CPU, boot and limits (devices in spec_devices.c, the getters in
 * spec_json.c). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "spec_internal.h"
#include "../boot/elf.h"

void vmm__spec_free(struct spec *s)
{
    for (size_t i = 0; i < s->nfiles; i++)
        free(s->files[i].path);
    for (size_t i = 0; i < s->ndevices; i++) {
        free(s->devices[i].type);
        free(s->devices[i].id);
        free(s->devices[i].plugin);
        json_object_put(s->devices[i].config);
    }
    free(s->boot_path);
    free(s->initrd_path);
    free(s->cmdline);
    memset(s, 0, sizeof *s);
}

static int parse_memory(struct json_object *root, const char *bd, struct spec *s)
{
    static const char *const keys[] = {"size", "hugepages", "files", NULL};
    struct json_object *m;
    int rc = vmm__spec_get_object(root, "", "memory", &m);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return vmm__spec_bad("memory", "missing (the VM needs RAM)");
    if ((rc = vmm__spec_check_keys(m, "memory", keys)) < 0)
        return rc;
    if ((rc = vmm__spec_get_u64(m, "memory", "size", VMM_PAGE_SIZE, SPEC_MAX_RAM, &s->mem_size)) <
        0)
        return rc;
    if (rc == 0)
        return vmm__spec_bad("memory.size", "missing");
    if (s->mem_size % VMM_PAGE_SIZE)
        return vmm__spec_bad("memory.size", "must be a multiple of 4096");
    if ((rc = vmm__spec_get_bool(m, "memory", "hugepages", &s->hugepages)) < 0)
        return rc;
    if (s->hugepages && s->mem_size % (2u << 20))
        return vmm__spec_bad("memory.size", "must be a multiple of 2 MiB with hugepages");
    struct json_object *files;
    if (!json_object_object_get_ex(m, "files", &files))
        return 0;
    if (!json_object_is_type(files, json_type_array))
        return vmm__spec_bad("memory.files", "must be an array, not %s",
                             vmm__spec_type_name(files));
    size_t n = json_object_array_length(files);
    if (n > SPEC_MAX_FILES)
        return vmm__spec_bad("memory.files", "at most %d files", SPEC_MAX_FILES);
    for (size_t i = 0; i < n; i++) {
        static const char *const fkeys[] = {"path", "address", NULL};
        char p[VMM__SPEC_PATH_MAX];
        snprintf(p, sizeof p, "memory.files[%zu]", i);
        struct json_object *f = json_object_array_get_idx(files, i);
        if (!json_object_is_type(f, json_type_object))
            return vmm__spec_bad(p, "must be an object, not %s", vmm__spec_type_name(f));
        if ((rc = vmm__spec_check_keys(f, p, fkeys)) < 0)
            return rc;
        struct spec_file *sf = &s->files[s->nfiles];
        if ((rc = vmm__spec_get_file(f, p, "path", bd, &sf->path, &sf->size)) < 0)
            return rc;
        if (rc == 0)
            return vmm__spec_bad(p, "missing \"path\"");
        s->nfiles++;
        char pa[VMM__SPEC_PATH_MAX];
        vmm__spec_join(pa, p, "address");
        if ((rc = vmm__spec_get_u64(f, p, "address", 0, (1ull << 52) - 1, &sf->address)) < 0)
            return rc;
        if (rc == 0)
            return vmm__spec_bad(pa, "missing");
        if (sf->address % VMM_PAGE_SIZE)
            return vmm__spec_bad(pa, "must be a multiple of 4096");
        if (sf->size == 0) {
            char pp[VMM__SPEC_PATH_MAX];
            vmm__spec_join(pp, p, "path");
            return vmm__spec_bad(pp, "the file is empty");
        }
        sf->size = (sf->size + VMM_PAGE_SIZE - 1) & ~(uint64_t)(VMM_PAGE_SIZE - 1);
        if (sf->size > (1ull << 52) - sf->address)
            return vmm__spec_bad(pa, "the file does not fit below 2^52");
        if (vmm__ranges_overlap(sf->address, sf->size, 0, s->mem_size))
            return vmm__spec_bad(pa, "[0x%llx, 0x%llx) overlaps the RAM at [0, 0x%llx)",
                                 (unsigned long long)sf->address,
                                 (unsigned long long)(sf->address + sf->size),
                                 (unsigned long long)s->mem_size);
        for (size_t k = 0; k + 1 < s->nfiles; k++)
            if (vmm__ranges_overlap(sf->address, sf->size, s->files[k].address, s->files[k].size))
                return vmm__spec_bad(pa, "[0x%llx, 0x%llx) overlaps memory.files[%zu]",
                                     (unsigned long long)sf->address,
                                     (unsigned long long)(sf->address + sf->size), k);
    }
    return 0;
}

static int parse_cpu(struct json_object *root, struct spec *s)
{
    static const char *const keys[] = {"mode",     "cpl",    "entry", "stack",
                                       "affinity", "weight", "cap",   NULL};
    struct json_object *c;
    int rc = vmm__spec_get_object(root, "", "cpu", &c);
    if (rc <= 0)
        return rc;
    if ((rc = vmm__spec_check_keys(c, "cpu", keys)) < 0)
        return rc;
    const char *mode;
    if ((rc = vmm__spec_get_string(c, "cpu", "mode", 16, &mode)) < 0)
        return rc;
    if (rc) {
        if (strcmp(mode, "real") == 0)
            s->mode = VMM_X86_REAL;
        else if (strcmp(mode, "protected") == 0)
            s->mode = VMM_X86_PROTECTED;
        else if (strcmp(mode, "long") == 0)
            s->mode = VMM_X86_LONG;
        else
            return vmm__spec_bad("cpu.mode", "must be \"real\", \"protected\" or \"long\"");
    }
    uint64_t v;
    if ((rc = vmm__spec_get_u64(c, "cpu", "cpl", 0, 3, &v)) < 0)
        return rc;
    if (rc) {
        if (v != 0 && v != 3)
            return vmm__spec_bad("cpu.cpl", "must be 0 or 3");
        if (v == 3 && s->mode == VMM_X86_REAL)
            return vmm__spec_bad("cpu.cpl", "real mode has no CPL 3");
        s->cpl = (unsigned int)v;
    }
    uint64_t addr_max = s->mode == VMM_X86_REAL        ? 0xfffff
                        : s->mode == VMM_X86_PROTECTED ? 0xffffffffull
                                                       : UINT64_MAX;
    if ((rc = vmm__spec_get_u64(c, "cpu", "entry", 0, addr_max, &s->entry)) < 0)
        return rc;
    s->has_entry = rc == 1;
    if ((rc = vmm__spec_get_u64(c, "cpu", "stack", 0, s->mode == VMM_X86_REAL ? 0xffff : addr_max,
                                &s->stack)) < 0)
        return rc;
    if ((rc = vmm__spec_get_u64(c, "cpu", "weight", 1, 65535, &v)) < 0)
        return rc;
    if (rc)
        s->sched.weight = (unsigned int)v;
    if ((rc = vmm__spec_get_u64(c, "cpu", "cap", 0, 100, &v)) < 0)
        return rc;
    if (rc)
        s->sched.cap = (unsigned int)v;
    struct json_object *aff;
    if (json_object_object_get_ex(c, "affinity", &aff)) {
        if (!json_object_is_type(aff, json_type_array))
            return vmm__spec_bad("cpu.affinity", "must be an array of host CPU numbers");
        size_t n = json_object_array_length(aff);
        if (n == 0)
            return vmm__spec_bad("cpu.affinity", "must name at least one CPU");
        long ncpu = sysconf(_SC_NPROCESSORS_CONF);
        for (size_t i = 0; i < n; i++) {
            char p[VMM__SPEC_PATH_MAX];
            snprintf(p, sizeof p, "cpu.affinity[%zu]", i);
            struct json_object *e = json_object_array_get_idx(aff, i);
            if (!json_object_is_type(e, json_type_int) || json_object_get_int64(e) < 0 ||
                json_object_get_int64(e) > 63)
                return vmm__spec_bad(p, "must be a CPU number in 0..63");
            int64_t cpu = json_object_get_int64(e);
            if (ncpu > 0 && cpu >= ncpu)
                return vmm__spec_bad(p, "CPU %lld does not exist (the host has %ld)",
                                     (long long)cpu, ncpu);
            s->sched.affinity |= 1ull << cpu;
        }
    }
    return 0;
}

/* An ELF image's segments must lie in RAM, be reachable in the CPU mode and
 * leave the CPU tables alone (they are written after the image is loaded). */
static int check_elf(struct spec *s)
{
    int fd = open(s->boot_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vmm__spec_bad("boot.path", "%s", strerror(errno));
    struct vmm__elf_segment segs[VMM__ELF_MAX_PHDRS];
    size_t n = VMM__ELF_MAX_PHDRS;
    uint64_t entry;
    int rc = vmm__elf_parse(fd, s->boot_size, s->boot_path, segs, &n, &entry);
    close(fd);
    if (rc < 0)
        return vmm__spec_bad("boot.path", "%s", vmm_error_last()->message);
    uint64_t reach = s->mode == VMM_X86_REAL        ? 0x100000ull
                     : s->mode == VMM_X86_PROTECTED ? 0x100000000ull
                                                    : UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        const struct vmm__elf_segment *g = &segs[i];
        if (g->paddr >= s->mem_size || g->memsz > s->mem_size - g->paddr)
            return vmm__spec_bad(
                "boot.path", "segment %u [0x%llx, 0x%llx) is outside memory.size (0x%llx)",
                g->index, (unsigned long long)g->paddr, (unsigned long long)(g->paddr + g->memsz),
                (unsigned long long)s->mem_size);
        if (g->paddr >= reach || g->memsz > reach - g->paddr)
            return vmm__spec_bad("boot.path", "segment %u at 0x%llx is out of reach in %s mode",
                                 g->index, (unsigned long long)g->paddr,
                                 s->mode == VMM_X86_REAL ? "real" : "protected");
        if (s->mode != VMM_X86_REAL &&
            vmm__ranges_overlap(g->paddr, g->memsz, VMM_X86_TABLES_DEFAULT,
                                VMM_X86_TABLES_MAX_SIZE))
            return vmm__spec_bad("boot.path", "segment %u overlaps the CPU tables at [0x%x, 0x%x)",
                                 g->index, VMM_X86_TABLES_DEFAULT, TABLES_END);
    }
    return 0;
}

#define LINUX_MIN_MEM (1u << 20) /* boot_params, tables, command line and MP table below 1 MiB */

/* The linux boot kind's keys besides the kernel's path: "initrd" (a file),
 * "cmdline" (at most 2047 bytes: what a vmlinux accepts; a bzImage may allow
 * less, which the boot checks), "cpuid" ("auto", "host" or "safe"). The VM
 * gets the irqchip and the PIT; the CPU state is the boot protocol's. */
static int parse_linux(struct json_object *b, const char *bd, struct spec *s)
{
    int rc = vmm__spec_get_file(b, "boot", "initrd", bd, &s->initrd_path, &s->initrd_size);
    if (rc < 0)
        return rc;
    const char *str;
    if ((rc = vmm__spec_get_string(b, "boot", "cmdline", 2047, &str)) < 0)
        return rc;
    if (rc == 1 && !(s->cmdline = strdup(str)))
        return vmm__err(VMM_ENOMEM, "boot.cmdline: out of memory");
    s->cpuid = VMM_LINUX_CPUID_AUTO;
    if ((rc = vmm__spec_get_string(b, "boot", "cpuid", 16, &str)) < 0)
        return rc;
    if (rc == 1) {
        if (strcmp(str, "host") == 0)
            s->cpuid = VMM_LINUX_CPUID_HOST;
        else if (strcmp(str, "safe") == 0)
            s->cpuid = VMM_LINUX_CPUID_SAFE;
        else if (strcmp(str, "auto") != 0)
            return vmm__spec_bad("boot.cpuid", "must be \"auto\", \"host\" or \"safe\"");
    }
    if (s->has_entry || s->cpl || s->mode != VMM_X86_LONG || s->stack)
        return vmm__spec_bad(
            "cpu", "a Linux boot sets the CPU state itself: no entry, stack, cpl or mode");
    if (s->mem_size < LINUX_MIN_MEM)
        return vmm__spec_bad("memory.size", "a Linux boot needs at least %u MiB",
                             LINUX_MIN_MEM >> 20);
    return 0;
}

static int parse_boot(struct json_object *root, const char *bd, struct spec *s)
{
    struct json_object *b;
    int rc = vmm__spec_get_object(root, "", "boot", &b);
    if (rc <= 0)
        return rc;
    const char *kind;
    if ((rc = vmm__spec_get_string(b, "boot", "kind", 16, &kind)) < 0)
        return rc;
    if (rc == 0)
        return vmm__spec_bad("boot.kind", "missing (\"flat\", \"elf\" or \"linux\")");
    if (strcmp(kind, "flat") == 0) {
        static const char *const keys[] = {"kind", "path", "address", NULL};
        if ((rc = vmm__spec_check_keys(b, "boot", keys)) < 0)
            return rc;
        s->boot = BOOT_FLAT;
        s->boot_address = DEFAULT_LOAD;
        if ((rc = vmm__spec_get_u64(b, "boot", "address", 0, (1ull << 52) - 1, &s->boot_address)) <
            0)
            return rc;
    } else if (strcmp(kind, "elf") == 0) {
        static const char *const keys[] = {"kind", "path", NULL};
        if ((rc = vmm__spec_check_keys(b, "boot", keys)) < 0)
            return rc;
        s->boot = BOOT_ELF;
    } else if (strcmp(kind, "linux") == 0) {
        static const char *const keys[] = {"kind", "path", "initrd", "cmdline", "cpuid", NULL};
        if ((rc = vmm__spec_check_keys(b, "boot", keys)) < 0)
            return rc;
        s->boot = BOOT_LINUX;
        if ((rc = parse_linux(b, bd, s)) < 0)
            return rc;
    } else {
        return vmm__spec_bad("boot.kind",
                             "\"%s\" is not a boot kind (\"flat\", \"elf\" or \"linux\")", kind);
    }
    if ((rc = vmm__spec_get_file(b, "boot", "path", bd, &s->boot_path, &s->boot_size)) < 0)
        return rc;
    if (rc == 0)
        return vmm__spec_bad("boot.path", "missing");
    if (s->boot == BOOT_ELF)
        return check_elf(s);
    if (s->boot == BOOT_LINUX)
        return 0; /* vmm_boot_linux checks the kernel against the VM it builds */
    if (s->boot == BOOT_FLAT) {
        if (s->boot_size == 0)
            return vmm__spec_bad("boot.path", "the image is empty");
        uint64_t reach = s->mode == VMM_X86_REAL        ? 0x100000ull
                         : s->mode == VMM_X86_PROTECTED ? 0x100000000ull
                                                        : UINT64_MAX;
        if (s->boot_address >= reach || s->boot_size > reach - s->boot_address)
            return vmm__spec_bad(
                "boot.address", "an image at 0x%llx is out of reach in %s mode (below %s)",
                (unsigned long long)s->boot_address, s->mode == VMM_X86_REAL ? "real" : "protected",
                s->mode == VMM_X86_REAL ? "1 MiB" : "4 GiB");
        if (s->boot_address >= s->mem_size || s->boot_size > s->mem_size - s->boot_address)
            return vmm__spec_bad("boot.address",
                                 "an image of %llu bytes at 0x%llx does not fit in "
                                 "memory.size (0x%llx)",
                                 (unsigned long long)s->boot_size,
                                 (unsigned long long)s->boot_address,
                                 (unsigned long long)s->mem_size);
        if (s->mode != VMM_X86_REAL &&
            vmm__ranges_overlap(s->boot_address, s->boot_size, VMM_X86_TABLES_DEFAULT,
                                VMM_X86_TABLES_MAX_SIZE))
            return vmm__spec_bad("boot.address",
                                 "the image overlaps the CPU tables at [0x%x, 0x%x)",
                                 VMM_X86_TABLES_DEFAULT, TABLES_END);
    }
    return 0;
}

/* The document: at most SPEC_MAX_LEN bytes of UTF-8 without NUL, strict JSON
 * (json-c's, then what it lets through: vmm__json_check), one object and
 * nothing after it. *root is the caller's on success. */
static int parse_document(const char *json, size_t len, struct json_object **root)
{
    *root = NULL;
    if (!json)
        return vmm__spec_bad("", "no spec given");
    if (len > SPEC_MAX_LEN)
        return vmm__spec_bad("", "longer than %u bytes", SPEC_MAX_LEN);
    if (memchr(json, 0, len))
        return vmm__spec_bad("", "contains a NUL byte at offset %zu",
                             (size_t)((const char *)memchr(json, 0, len) - json));
    size_t badbyte;
    if (vmm__json_check_utf8(json, len, &badbyte) < 0)
        return vmm__spec_bad("", "invalid UTF-8 at offset %zu", badbyte);
    struct json_tokener *tok = json_tokener_new_ex(SPEC_MAX_DEPTH);
    if (!tok)
        return vmm__err(VMM_ENOMEM, "spec: out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *o = json_tokener_parse_ex(tok, json, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    bool truncated = false;
    if (!o && jerr == json_tokener_continue) {
        /* All text consumed. A bare scalar is complete only at the end of the
         * input; anything else is cut short. */
        o = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
        truncated = jerr != json_tokener_success;
        end = len;
    }
    json_tokener_free(tok);
    if (jerr == json_tokener_success && !o) /* the JSON value null */
        return vmm__spec_bad("", "the spec must be a JSON object, not null");
    if (!o || jerr != json_tokener_success) {
        json_object_put(o);
        if (truncated || jerr == json_tokener_continue)
            return vmm__spec_bad("", "invalid JSON: truncated");
        if (jerr == json_tokener_error_depth)
            return vmm__spec_bad("", "invalid JSON: nested deeper than %d levels", SPEC_MAX_DEPTH);
        return vmm__spec_bad("", "invalid JSON at offset %zu: %s", end,
                             json_tokener_error_desc(jerr));
    }
    int rc = 0;
    for (size_t i = end; i < len && rc == 0; i++)
        if (!strchr(" \t\r\n", json[i]))
            rc = vmm__spec_bad("", "invalid JSON: data after the top-level value at offset %zu", i);
    char jpath[VMM__SPEC_PATH_MAX], why[96];
    if (rc == 0 && vmm__json_check(json, len, jpath, sizeof jpath, why, sizeof why) < 0)
        rc = vmm__spec_bad(jpath, "%s", why);
    if (rc == 0 && !json_object_is_type(o, json_type_object))
        rc = vmm__spec_bad("", "the spec must be a JSON object, not %s", vmm__spec_type_name(o));
    if (rc < 0) {
        json_object_put(o);
        return rc;
    }
    *root = o;
    return 0;
}

/* "name", "uuid" (else a random one), "vcpus" and "irqchip". */
static int parse_identity(struct json_object *root, struct spec *s)
{
    const char *str;
    int rc = vmm__spec_get_string(root, "", "name", sizeof s->name - 1, &str);
    if (rc == 1) {
        for (const char *c = str; *c && rc == 1; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || strchr("._-", *c)))
                rc = vmm__spec_bad("name", "use only letters, digits, '.', '_' and '-'");
        if (rc == 1)
            snprintf(s->name, sizeof s->name, "%s", str);
    }
    if (rc >= 0 && (rc = vmm__spec_get_string(root, "", "uuid", 36, &str)) == 1) {
        uuid_t u;
        if (strlen(str) != 36 || uuid_parse(str, u) < 0)
            rc = vmm__spec_bad(
                "uuid", "\"%s\" is not a UUID (like 123e4567-e89b-12d3-a456-426614174000)", str);
        else
            uuid_unparse_lower(u, s->uuid);
    } else if (rc == 0) {
        uuid_t u;
        uuid_generate_random(u);
        uuid_unparse_lower(u, s->uuid);
    }
    uint64_t v;
    if (rc >= 0 && (rc = vmm__spec_get_u64(root, "", "vcpus", 1, VMM__MAX_VCPUS, &v)) == 1)
        s->vcpus = (unsigned int)v;
    if (rc >= 0)
        rc = vmm__spec_get_bool(root, "", "irqchip", &s->irqchip);
    return rc;
}

int vmm__spec_parse(const char *json, size_t len, const char *bd, struct spec *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "vm");
    s->vcpus = 1;
    s->mode = VMM_X86_LONG;
    s->sched = (vmm_sched)VMM_SCHED_INIT;
    struct json_object *root;
    int rc = parse_document(json, len, &root);
    if (rc < 0)
        return rc;
    static const char *const keys[] = {"name", "uuid",    "vcpus",  "memory",  "cpu",
                                       "boot", "devices", "limits", "irqchip", NULL};
    rc = vmm__spec_check_keys(root, "", keys);
    if (rc >= 0)
        rc = parse_identity(root, s);
    if (rc >= 0)
        rc = parse_memory(root, bd, s);
    if (rc >= 0)
        rc = parse_cpu(root, s);
    if (rc >= 0)
        rc = parse_boot(root, bd, s);
    if (rc >= 0 && s->mode != VMM_X86_REAL && s->mem_size < TABLES_END)
        rc = vmm__spec_bad("memory.size",
                           "must be at least 0x%x: the CPU tables live at [0x%x, 0x%x)", TABLES_END,
                           VMM_X86_TABLES_DEFAULT, TABLES_END);
    if (rc >= 0 && s->boot == BOOT_NONE && !s->has_entry)
        rc = vmm__spec_bad("boot",
                           "missing (or give cpu.entry for a guest loaded from memory.files)");
    if (rc >= 0)
        rc = vmm__spec_parse_devices(root, bd, s);
    struct json_object *lim;
    uint64_t v;
    if (rc >= 0 && (rc = vmm__spec_get_object(root, "", "limits", &lim)) == 1) {
        static const char *const lkeys[] = {"time_budget_ms", NULL};
        if ((rc = vmm__spec_check_keys(lim, "limits", lkeys)) == 0 &&
            (rc = vmm__spec_get_u64(lim, "limits", "time_budget_ms", 0, 365ull * 24 * 3600 * 1000,
                                    &v)) == 1)
            s->time_budget_ns = v * 1000000ull;
    }
    json_object_put(root);
    return rc < 0 ? rc : 0;
}
