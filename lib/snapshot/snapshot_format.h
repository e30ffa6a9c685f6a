/* SPDX-License-Identifier: MIT */
/* The snapshot file format's constants and byte helpers (docs/snapshot-format.md),
 * shared by the writer (snapshot_file.c) and the reader (snapshot_file_load.c). */
#ifndef LIBVMM_SNAPSHOT_FORMAT_H
#define LIBVMM_SNAPSHOT_FORMAT_H

#include "snapshot_internal.h"

static const uint8_t file_magic[8] = {'L', 'V', 'M', 'M', 'S', 'N', 'A', 'P'};
#define FILE_VERSION  1u
#define HEADER_SIZE   64u
#define SECTION_HDR   16u
#define TRAILER_SIZE  8u
#define REGION_HDR    32u
#define VCPU_HDR      16u
#define VMSTATE_HDR   8u
#define DEVICE_HDR    72u
#define NAME_FIELD    32u
#define GPA_LIMIT     (1ull << 52)
#define MAX_REGION    (1ull << 40) /* 1 TiB per region */
#define MAX_REGIONS   32768u       /* KVM's most memory slots */
#define MAX_DEVICES   4096u
#define MAX_VCPU_BLOB (16u << 20)
#define MAX_VM_BLOB   (1u << 20)
#define MAX_DEV_STATE (256u << 20)
#define MEM_FLAGS     (VMM_MEM_READONLY | VMM_MEM_DIRTY_LOG | VMM_MEM_HUGEPAGES)

enum { SEC_VM = 1, SEC_REGION = 2, SEC_VCPU = 3, SEC_VMSTATE = 4, SEC_DEVICE = 5 };

static inline const char *section_name(uint32_t type)
{
    static const char *const names[] = {"?",          "VM",       "RAM region",
                                        "vCPU state", "VM state", "device"};
    return type < VMM__ARRAY_LEN(names) ? names[type] : "unknown type";
}

static inline uint64_t align8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

static inline uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static inline void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* A libvmm error code for an errno of a file operation. */
VMM__HIDDEN int vmm__snapfile_errno(int e);
/* Record "<where>: <what>" as a code error (VMM_EINVAL for bad()) and return it. */
VMM__HIDDEN int vmm__snapfile_bad(int code, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define bad(...) vmm__snapfile_bad(VMM_EINVAL, __VA_ARGS__)

#endif
