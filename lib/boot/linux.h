/* SPDX-License-Identifier: MIT */
/* Linux loader internals, testable without a VM: the bzImage setup header
 * checks, the e820 map and the MP table. */
#ifndef LIBVMM_BOOT_LINUX_H
#define LIBVMM_BOOT_LINUX_H

#include <stddef.h>
#include <stdint.h>

#include "../core/internal.h"

/* Little-endian fields of boot_params and the setup header. */
static inline uint16_t vmm__lx_get16(const uint8_t *p, size_t off)
{
    return (uint16_t)(p[off] | p[off + 1] << 8);
}

static inline uint32_t vmm__lx_get32(const uint8_t *p, size_t off)
{
    return vmm__lx_get16(p, off) | (uint32_t)vmm__lx_get16(p, off + 2) << 16;
}

static inline uint64_t vmm__lx_get64(const uint8_t *p, size_t off)
{
    return vmm__lx_get32(p, off) | (uint64_t)vmm__lx_get32(p, off + 4) << 32;
}

static inline void vmm__lx_put16(uint8_t *p, size_t off, uint16_t v)
{
    p[off] = (uint8_t)v;
    p[off + 1] = (uint8_t)(v >> 8);
}

static inline void vmm__lx_put32(uint8_t *p, size_t off, uint32_t v)
{
    vmm__lx_put16(p, off, (uint16_t)v);
    vmm__lx_put16(p, off + 2, (uint16_t)(v >> 16));
}

static inline void vmm__lx_put64(uint8_t *p, size_t off, uint64_t v)
{
    vmm__lx_put32(p, off, (uint32_t)v);
    vmm__lx_put32(p, off + 4, (uint32_t)(v >> 32));
}

/* Guest-physical layout of a Linux boot. */
#define VMM__LINUX_BOOT_PARAMS 0x7000u
#define VMM__LINUX_STACK       0x8ff0u
#define VMM__LINUX_TABLES      0x9000u
#define VMM__LINUX_CMDLINE     0x20000u
#define VMM__LINUX_EBDA        0x9fc00u /* reserved in the e820 map, as a BIOS would */
#define VMM__LINUX_EBDA_END    0xa0000u
#define VMM__LINUX_MPTABLE     0xf0000u /* in the BIOS area Linux scans, not in the e820 map */
#define VMM__LINUX_MPTABLE_END 0x100000u
#define VMM__LINUX_HIGH        0x100000u
#define VMM__LINUX_LOAD        0x1000000u /* 16 MiB: where a vmlinux links, a bzImage's default */
#define VMM__LINUX_IOAPIC      0xfec00000u
#define VMM__LINUX_LAPIC       0xfee00000u

/* boot_params offsets (Documentation/arch/x86/zero-page.rst, boot.rst). */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES      0x1e8
#define BP_HDR               0x1f1 /* the setup header */
#define BP_SETUP_SECTS       0x1f1
#define BP_BOOT_FLAG         0x1fe
#define BP_JUMP              0x200
#define BP_HEADER            0x202
#define BP_VERSION           0x206
#define BP_TYPE_OF_LOADER    0x210
#define BP_LOADFLAGS         0x211
#define LOADED_HIGH          0x01 /* in BP_LOADFLAGS */
#define BP_CODE32_START      0x214
#define BP_RAMDISK_IMAGE     0x218
#define BP_RAMDISK_SIZE      0x21c
#define BP_CMD_LINE_PTR      0x228
#define BP_INITRD_ADDR_MAX   0x22c
#define BP_KERNEL_ALIGNMENT  0x230
#define BP_RELOCATABLE       0x234
#define BP_XLOADFLAGS        0x236
#define BP_CMDLINE_SIZE      0x238
#define BP_PREF_ADDRESS      0x258
#define BP_INIT_SIZE         0x260
#define BP_E820_TABLE        0x2d0
#define BP_E820_MAX          128

#define VMM__E820_RAM      1
#define VMM__E820_RESERVED 2

/* What the loader takes from a bzImage's setup header. */
struct vmm__bzimage {
    uint32_t setup_size;  /* bytes before the protected-mode kernel: (setup_sects + 1) * 512 */
    uint32_t hdr_len;     /* setup header bytes to copy into boot_params, from 0x1f1 */
    uint16_t version;     /* boot protocol version */
    uint64_t load;        /* where the protected-mode kernel goes */
    uint64_t init_size;   /* memory it needs from load on */
    uint32_t initrd_max;  /* highest address an initrd byte may have */
    uint32_t cmdline_max; /* longest command line, without the NUL */
};

/* Check the first len bytes of a bzImage of file_size bytes (len >= 1024).
 * 0, or VMM_EINVAL with the broken rule in *why. */
VMM__HIDDEN int vmm__bzimage_parse(const uint8_t *head, size_t len, uint64_t file_size,
                                   struct vmm__bzimage *out, const char **why);

struct vmm__e820 {
    uint64_t addr, size;
    uint32_t type;
};
/* The e820 map of RAM regions (gpa, size pairs sorted by gpa, disjoint):
 * [0, 0x9fc00) usable if RAM, [0x9fc00, 0xa0000) reserved, nothing between
 * 0xa0000 and 1 MiB, every RAM byte from 1 MiB up usable. Returns the number
 * of entries written (at most cap), or VMM_EFAULT when no region runs from 0
 * to 1 MiB, or VMM_E2BIG. */
VMM__HIDDEN int vmm__linux_e820(const uint64_t (*ram)[2], size_t nram, struct vmm__e820 *out,
                                size_t cap);

/* Build the MP table (floating pointer at offset 0, configuration table after
 * it) for ncpus processors, for a table placed at guest address at.
 * cpu_signature and cpu_features: CPUID leaf 1 EAX and EDX. Returns its size
 * (at most cap) or VMM_E2BIG. */
VMM__HIDDEN int vmm__linux_mptable(uint8_t *buf, size_t cap, uint32_t at, unsigned int ncpus,
                                   uint32_t cpu_signature, uint32_t cpu_features);

#endif
