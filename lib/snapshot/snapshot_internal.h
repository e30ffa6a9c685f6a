/* SPDX-License-Identifier: MIT */
/* The in-memory snapshot, shared by snapshot.c (take, restore) and
 * snapshot_file.c (save, load). */
#ifndef LIBVMM_SNAPSHOT_INTERNAL_H
#define LIBVMM_SNAPSHOT_INTERNAL_H

#include "../core/internal.h"

#define PAGE VMM_PAGE_SIZE

struct snap_region {
    uint64_t gpa, size;
    unsigned int flags;
    uint8_t *data;     /* size bytes, anonymous memory; pages never written read as zero */
    uint64_t *present; /* bit per page: data holds a nonzero page there */
    uint64_t npresent;
};

struct snap_vcpu {
    unsigned int index;
    void *state; /* the backend's blob */
    size_t len;
};

struct snap_device {
    char type[32], id[32];
    void *data;
    size_t len;
};

struct vmm_snapshot {
    uint64_t id;                  /* unique in the process: what a VM's baseline names */
    const struct vmm__hv_ops *hv; /* the backend whose state blobs it holds */
    unsigned int vm_flags;
    size_t nregions;
    struct snap_region *regions;
    unsigned int nvcpus;
    struct snap_vcpu *vcpus; /* by increasing index */
    void *vm_state;
    size_t vm_state_len;
    size_t ndevices;
    struct snap_device *devices; /* in attach order */
    size_t bytes;
    /* Guest-physical addresses of the pages that are page tables of some vCPU
     * (reachable from its CR3), sorted; tables_unknown when the walk gave up. */
    uint64_t *tables;
    size_t ntables;
    bool tables_unknown;
};

/* CRC-32C (Castagnoli) of len bytes, continuing from crc (0 to start): the
 * snapshot file's checksum (snapshot_file.c). */
VMM__HIDDEN uint32_t vmm__crc32c(uint32_t crc, const void *buf, size_t len);
/* A new snapshot id, unique in the process. */
VMM__HIDDEN uint64_t vmm__snapshot_new_id(void);
/* Fill s->tables from the snapshot's vCPU states and memory (after a take or
 * a load). Allocation failure or too many tables leave tables_unknown set. */
VMM__HIDDEN void vmm__snapshot_index_tables(vmm_snapshot *s);

#endif
