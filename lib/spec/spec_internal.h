/* SPDX-License-Identifier: MIT */
/* Internal interface of the JSON spec layer. */
#ifndef LIBVMM_SPEC_INTERNAL_H
#define LIBVMM_SPEC_INTERNAL_H

#include "../core/internal.h"

#define VMM__SPEC_PATH_MAX VMM__JSON_PATH_MAX

#define SPEC_MAX_LEN     (1u << 20)
#define SPEC_MAX_DEPTH   32
#define SPEC_MAX_DEVICES 64
#define SPEC_MAX_FILES   16
#define SPEC_MAX_RAM     (1ull << 40)
#define TABLES_END       (VMM_X86_TABLES_DEFAULT + VMM_X86_TABLES_MAX_SIZE)
#define DEFAULT_LOAD     0x10000u

struct spec_file {
    char *path;
    uint64_t address, size;
};

struct spec_device {
    char *type, *id, *plugin;
    /* The device's own configuration: its object in the spec without the
     * spec-level keys, the type's path keys resolved against the spec's
     * directory. Handed to the device as it is. */
    struct json_object *config;
    bool console;
};

enum boot_kind { BOOT_NONE, BOOT_FLAT, BOOT_ELF, BOOT_LINUX };

struct spec {
    char name[64];
    char uuid[37];
    unsigned int vcpus;
    uint64_t mem_size;
    bool hugepages;
    struct spec_file files[SPEC_MAX_FILES];
    size_t nfiles;
    vmm_x86_mode mode;
    unsigned int cpl;
    bool has_entry;
    uint64_t entry, stack;
    vmm_sched sched;
    enum boot_kind boot;
    char *boot_path;
    uint64_t boot_address, boot_size;
    char *initrd_path, *cmdline; /* linux */
    uint64_t initrd_size;
    vmm_linux_cpuid cpuid;
    struct spec_device devices[SPEC_MAX_DEVICES];
    size_t ndevices;
    uint64_t time_budget_ns;
    bool irqchip;
};

/* Parse and check a spec (everything but device configs, which need the device
 * types); relative paths are resolved against bd (NULL: the current
 * directory). 0, or VMM_ECONFIG with "<json path>: <reason>"; *s must be freed
 * with vmm__spec_free() either way. */
VMM__HIDDEN int vmm__spec_parse(const char *json, size_t len, const char *bd, struct spec *s);
VMM__HIDDEN void vmm__spec_free(struct spec *s);
/* The "devices" array into s->devices (spec_devices.c). */
VMM__HIDDEN int vmm__spec_parse_devices(struct json_object *root, const char *bd, struct spec *s);

/* ---- strict getters (spec_json.c) ---- */
/* Record VMM_ECONFIG "<path>: <reason>" ("(spec)" for the top) and return it. */
VMM__HIDDEN int vmm__spec_bad(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* out = path.key; a path too long for messages is cut, which is harmless. */
VMM__HIDDEN void vmm__spec_join(char *out, const char *path, const char *key);
/* "an object", "a string", ... for messages. */
VMM__HIDDEN const char *vmm__spec_type_name(struct json_object *v);
/* Refuse keys outside allowed (NULL-terminated). */
VMM__HIDDEN int vmm__spec_check_keys(struct json_object *o, const char *path,
                                     const char *const *allowed);
/* The getters: 0 when key is absent, 1 with *out set, or the error. */
VMM__HIDDEN int vmm__spec_get_object(struct json_object *parent, const char *path, const char *key,
                                     struct json_object **out);
VMM__HIDDEN int vmm__spec_get_bool(struct json_object *o, const char *path, const char *key,
                                   bool *out);
/* A string of 1..maxlen bytes without control characters. */
VMM__HIDDEN int vmm__spec_get_string(struct json_object *o, const char *path, const char *key,
                                     size_t maxlen, const char **out);
/* A JSON integer or a number string ("4K", "0x1000") in [min, max]. */
VMM__HIDDEN int vmm__spec_get_u64(struct json_object *o, const char *path, const char *key,
                                  uint64_t min, uint64_t max, uint64_t *out);
/* path resolved against base_dir (NULL or "": as it is); malloc'ed, NULL without memory. */
VMM__HIDDEN char *vmm__spec_resolve(const char *base_dir, const char *path);
/* A file the spec names: it must exist and be a regular, readable file;
 * *out receives its resolved path (malloc'ed), *size its size. */
VMM__HIDDEN int vmm__spec_get_file(struct json_object *o, const char *path, const char *key,
                                   const char *base_dir, char **out, uint64_t *size);

#endif
