/* SPDX-License-Identifier: MIT */
/** @file memory.h  Guest-physical memory: regions, checked access, dirty logging. */
#ifndef LIBVMM_MEMORY_H
#define LIBVMM_MEMORY_H

#include "common.h"

VMM_BEGIN_DECLS

/** vmm_mem_map() flag: the guest may read but not write the region (writes exit as MMIO). */
#define VMM_MEM_READONLY 0x1u
/** vmm_mem_map() flag: KVM records which pages the guest writes; see vmm_mem_dirty_log(). */
#define VMM_MEM_DIRTY_LOG 0x2u

/** vmm_mem_map() flag: back libvmm-allocated RAM with 2 MiB huge pages (gpa and size
 *  2 MiB aligned; host must have free huge pages, see /proc/sys/vm/nr_hugepages). */
#define VMM_MEM_HUGEPAGES 0x4u

/** Guest page size used for alignment and dirty bitmaps. */
#define VMM_PAGE_SIZE 4096u

/**
 * Map a region of guest-physical memory.
 * @param vm     The VM.
 * @param gpa    Guest-physical start; page aligned.
 * @param size   Bytes; page aligned, > 0; gpa + size must stay below 2^52.
 * @param host   Caller memory (page aligned, at least size bytes, kept valid and not
 *               freed until the region is unmapped or the VM destroyed), or NULL to
 *               have libvmm allocate zeroed memory (memfd-backed, with inaccessible
 *               guard pages on both sides), freed at unmap/destroy.
 * @param flags  VMM_MEM_READONLY, VMM_MEM_DIRTY_LOG, VMM_MEM_HUGEPAGES (host NULL only).
 * @return 0; VMM_EINVAL (alignment, size 0, unknown flag), VMM_EOVERFLOW (range wraps
 *         or exceeds 2^52), VMM_EEXIST (overlaps a region), VMM_E2BIG (no memory slot
 *         left), VMM_ENOMEM (allocation failed or the VM's memory limit is reached),
 *         VMM_ENOTSUP (read-only memory unsupported by KVM), VMM_EKVM.
 * Must not be called while a vCPU of the VM runs.
 * Any thread, while no vCPU of the VM runs (VMM_EBUSY otherwise). Safe against concurrent
 * vmm_mem_read()/vmm_mem_write().
 */
VMM_EXTERN int vmm_mem_map(vmm_vm *vm, uint64_t gpa, uint64_t size, void *host, unsigned int flags);

/**
 * Map the contents of a file read-only at gpa: a region of the file's size rounded
 * up to whole pages is allocated, the file copied into it (the tail of the last page
 * reads as zeros) and mapped with VMM_MEM_READONLY. Later changes to the file do
 * not reach the guest.
 * @param size  Receives the region size; may be NULL.
 * @return 0; VMM_ENOENT/VMM_EIO (file), VMM_EINVAL (empty file, gpa unaligned),
 *         VMM_E2BIG (file larger than 1 TiB), any error of vmm_mem_map().
 * Any thread, while no vCPU of the VM runs (VMM_EBUSY otherwise). Safe against concurrent
 * vmm_mem_read()/vmm_mem_write().
 */
VMM_EXTERN int vmm_mem_map_file(vmm_vm *vm, uint64_t gpa, const char *path, uint64_t *size);

/**
 * Remove the region that starts at gpa. Memory libvmm allocated is freed.
 * @return 0; VMM_ENOENT if no region starts there.
 * Must not be called while a vCPU of the VM runs.
 * Any thread, while no vCPU of the VM runs (VMM_EBUSY otherwise). Safe against concurrent
 * vmm_mem_read()/vmm_mem_write().
 */
VMM_EXTERN int vmm_mem_unmap(vmm_vm *vm, uint64_t gpa);

/**
 * Copy len bytes from guest-physical memory. The range may cross regions only
 * where they are contiguous.
 * @return 0; VMM_EFAULT (some byte is not RAM; nothing is copied), VMM_EINVAL.
 * Thread-safe.
 */
VMM_EXTERN int vmm_mem_read(vmm_vm *vm, uint64_t gpa, void *buf, size_t len);

/**
 * Copy len bytes into guest-physical memory. The host may write read-only
 * regions (to load a ROM, for instance); pages written are not marked dirty in
 * KVM's log (snapshots record them themselves, see vmm_snapshot_restore()).
 * Errors and threading as vmm_mem_read().
 */
VMM_EXTERN int vmm_mem_write(vmm_vm *vm, uint64_t gpa, const void *buf, size_t len);

/**
 * The host address of len bytes of guest RAM at gpa, after checking that all of
 * them lie in one region.
 * @return 0 with *host set; VMM_EFAULT otherwise. The pointer stays valid until
 *         the region is unmapped. For snapshots the whole range counts as
 *         written by the host now (see vmm_snapshot_restore()).
 * Thread-safe; the pointer stays valid until the region is unmapped.
 */
VMM_EXTERN int vmm_mem_host_ptr(vmm_vm *vm, uint64_t gpa, uint64_t len, void **host);

/**
 * Fetch and clear KVM's dirty-page bitmap of the region that starts at gpa
 * (mapped with VMM_MEM_DIRTY_LOG). Bit i set: page i of the region was written
 * by the guest since the last call, or since the last vmm_snapshot_take() or
 * vmm_snapshot_restore(), which consume the log too. With nested paging (EPT,
 * NPT) the CPU walks guest page tables with write accesses, so the pages of
 * the tables a run walked are set too, whether or not their content changed.
 * @param bitmap  Receives the bitmap, 64 pages per word.
 * @param words   Number of uint64_t in bitmap; at least ceil(pages / 64).
 * @return 0; VMM_ENOENT (no such region), VMM_EINVAL (no dirty logging, bitmap too small),
 *         VMM_EKVM.
 * Thread-safe; may be called while vCPUs run.
 */
VMM_EXTERN int vmm_mem_dirty_log(vmm_vm *vm, uint64_t gpa, uint64_t *bitmap, size_t words);

VMM_END_DECLS

#endif
