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

#endif
