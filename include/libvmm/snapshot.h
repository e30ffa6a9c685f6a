/* SPDX-License-Identifier: MIT */
/** @file snapshot.h  Whole-VM snapshots: take one, reset a VM to it, save it to a file and
 *  load it back. */
#ifndef LIBVMM_SNAPSHOT_H
#define LIBVMM_SNAPSHOT_H

#include "common.h"

VMM_BEGIN_DECLS

/**
 * A copy of a VM's complete state: guest memory, every vCPU's registers
 * (general, special, FPU/XSAVE, XCRs, MSRs, debug registers, pending events,
 * MP state and LAPIC), the in-kernel irqchip, PIT and clock, and the state of
 * every device. It holds no pointer into the VM: it may outlive the VM and be
 * restored into any VM of the same shape. Immutable once taken, so several
 * threads may restore it (into different VMs) at once.
 */
typedef struct vmm_snapshot vmm_snapshot;

/**
 * Take a snapshot of the VM.
 *
 * Every vCPU's pending I/O is completed first (its state is only consistent
 * after that), so a vCPU stopped at an unclaimed read must have had its answer
 * stored already. From the first snapshot on, every RAM region of the VM has
 * KVM dirty logging on (the region gains VMM_MEM_DIRTY_LOG) and libvmm records
 * the pages the host writes, so that vmm_snapshot_restore() can copy back only
 * what changed. Taking a snapshot consumes KVM's dirty log: vmm_mem_dirty_log()
 * then reports the pages written since.
 *
 * @param vm   The VM; no vCPU of it may be in the guest: it is idle, or inside
 *             vmm_vm_run() paused with vmm_vm_pause().
 * @param out  Receives the snapshot, owned by the caller (vmm_snapshot_free());
 *             set to NULL on failure. Must not be NULL.
 * @return 0; VMM_EINVAL (NULL argument), VMM_EBUSY (a vCPU is running),
 *         VMM_ENOSYS (a device's type has no save or load; the message names the
 *         device), VMM_ENOMEM, VMM_ESTATE (a vCPU is in the middle of a string
 *         I/O instruction that needs more I/O: run it on first), VMM_EKVM, or a
 *         device's save error. On failure the VM is unchanged except that its
 *         next restore copies all memory.
 * Not thread-safe against other calls on the same VM.
 */
VMM_EXTERN int vmm_snapshot_take(vmm_vm *vm, vmm_snapshot **out);

/**
 * Reset the VM to a snapshot.
 *
 * The VM must have the shape of the one the snapshot was taken from: the same
 * RAM regions (address and size), the same vCPU indices, the same devices
 * (types and ids, attached in the same order) and the same irqchip and PIT
 * flags; it may be that VM or another one. Pending I/O is completed first, as
 * in vmm_snapshot_take().
 *
 * If the VM's memory last equalled this very snapshot (it was taken from it or
 * restored to it since the memory map last changed), only the pages written
 * since are copied back: those in KVM's dirty log plus those the host wrote
 * through vmm_mem_write(), device accesses, vmm_vcpu_write_virt(), the
 * loaders, or a pointer from vmm_mem_host_ptr() (its whole range counts as
 * written when the pointer is handed out; get it again after a take or
 * restore before writing through it). Otherwise all memory is copied, and
 * from then on the VM's memory derives from this snapshot. Writes the
 * embedder makes directly into memory it supplied to vmm_mem_map() are not
 * seen: make them through vmm_mem_write() or a fresh vmm_mem_host_ptr().
 *
 * Restoring consumes KVM's dirty log, like vmm_snapshot_take(). The guest's
 * TSC and kvmclock go back to the snapshot's values.
 *
 * On hosts where KVM shadows the guest's page tables (PVM, or VMX/SVM with
 * EPT/NPT off; see vmm_host_info), KVM does not notice the host changing
 * guest page tables, so a restore that changed the content of any page also
 * makes KVM drop its shadow page tables (a memory-slot update, and the guest
 * faults its pages in again). With EPT/NPT this is never needed.
 *
 * @param vm    The VM; idle, or inside vmm_vm_run() paused with vmm_vm_pause()
 *              (the run continues from the restored state on vmm_vm_resume()).
 * @param snap  The snapshot; not modified.
 * @return 0; VMM_EINVAL (NULL argument, or a VM of a different shape: the
 *         message names the difference; nothing is changed), VMM_EBUSY (a vCPU
 *         is running; nothing is changed), VMM_ESTATE (see vmm_snapshot_take()),
 *         VMM_EKVM, or a device's load error. After an error other than
 *         VMM_EINVAL and VMM_EBUSY the VM is partly restored: restore again.
 * Allocates no memory once the VM has been snapshotted or restored before.
 * Not thread-safe against other calls on the same VM.
 */
VMM_EXTERN int vmm_snapshot_restore(vmm_vm *vm, const vmm_snapshot *snap);

/** vmm_snapshot_restore_flags(): the caller vouches that the guest has not
 *  written any page-table page (nor made a new page a page table) since the
 *  snapshot, so on shadow-paging hosts KVM's shadow page tables may be kept.
 *  As a safety net libvmm still drops them when one of the pages it copies back
 *  was a page table of some vCPU in the snapshot (found by walking the page
 *  tables from each vCPU's CR3 when the snapshot was taken or loaded). Typical
 *  fuzz targets and sandboxed programs never touch their page tables. Without
 *  shadow paging the flag changes nothing. */
#define VMM_SNAPSHOT_KEEP_PAGE_TABLES 1u

/**
 * vmm_snapshot_restore() with flags: 0 or VMM_SNAPSHOT_KEEP_PAGE_TABLES.
 * If the promise behind VMM_SNAPSHOT_KEEP_PAGE_TABLES is broken, the guest may
 * see stale mappings after the restore (the host process is never at risk).
 * @return as vmm_snapshot_restore(); VMM_EINVAL also for an unknown flag.
 * Any thread; the VM's vCPUs must not be running (VMM_EBUSY otherwise). The snapshot may be shared
 * by threads restoring other VMs.
 */
VMM_EXTERN int vmm_snapshot_restore_flags(vmm_vm *vm, const vmm_snapshot *snap, unsigned int flags);

/** Free a snapshot. NULL is ignored. Any thread; the VM it came from may be gone. */
VMM_EXTERN void vmm_snapshot_free(vmm_snapshot *snap);

/**
 * Host memory the snapshot occupies, in bytes: its copy of guest RAM (pages
 * that were never touched in libvmm-allocated RAM take no host memory until
 * written, and are not counted) plus vCPU, VM and device state. 0 for NULL.
 * Thread-safe.
 */
VMM_EXTERN size_t vmm_snapshot_memory_size(const vmm_snapshot *snap);

/**
 * Save a snapshot to a file (format: docs/snapshot-format.md; versioned,
 * CRC-32C checksummed, only the guest pages the snapshot holds are written).
 *
 * The file is written atomically: into a new temporary file in the same
 * directory (named ".<name>.tmp-<pid>-<n>"), flushed with fsync(), then renamed
 * over path and the directory synced. On failure nothing is left behind and an
 * existing file at path is unchanged.
 *
 * @param snap  The snapshot (taken or loaded); not modified.
 * @param path  The file to create or replace. Must not be NULL.
 * @return 0; VMM_EINVAL (NULL argument, or path names a directory), VMM_ENOENT
 *         (the directory does not exist), VMM_EPERM (no permission to create the
 *         file), VMM_ENOMEM, or VMM_EIO (any other failure to write, sync or
 *         rename; the message names the file and the system's reason).
 * Any thread; several threads may save the same snapshot at once.
 */
VMM_EXTERN int vmm_snapshot_save(const vmm_snapshot *snap, const char *path);

/**
 * Load a snapshot that vmm_snapshot_save() wrote.
 *
 * The file is read whole and checked by vmm_snapshot_load_buffer() before
 * anything is built from it. The result is like a snapshot just taken: it can
 * be restored into any VM of the shape it records (the first restore into a VM
 * copies all memory), saved again (byte for byte the same file), and freed.
 *
 * @param path  The file. Must not be NULL.
 * @param out   Receives the snapshot, owned by the caller (vmm_snapshot_free());
 *              set to NULL on failure. Must not be NULL.
 * @return 0; VMM_EINVAL (NULL argument, not a regular file, or a malformed,
 *         truncated, corrupted or foreign file: the message names the file and
 *         what is wrong), VMM_EVERSION (a format version this libvmm cannot
 *         read), VMM_ENOENT (no such file), VMM_EPERM, VMM_EIO, VMM_ENOMEM.
 * Any thread.
 */
VMM_EXTERN int vmm_snapshot_load(const char *path, vmm_snapshot **out);

/**
 * Load a snapshot from the bytes of a snapshot file in memory (what
 * vmm_snapshot_load() does after reading the file). Every length, count, offset
 * and the checksum are checked against the len bytes given before anything is
 * allocated from them, so any input is safe: it is refused with an error, never
 * read beyond len, and memory allocated is bounded by len (plus address space
 * reserved, not committed, for the guest RAM it describes). The vCPU, VM and
 * device state it carries is checked again by vmm_snapshot_restore() and the
 * devices' load, which refuse what this VM or device cannot take.
 *
 * @param buf  The bytes; not modified and not referenced after the call
 *             (need not be aligned). May be NULL only if len is 0.
 * @param len  Their number.
 * @param out  As in vmm_snapshot_load().
 * @return as vmm_snapshot_load(), without the file errors; the message begins
 *         with "vmm_snapshot_load_buffer:".
 * Any thread.
 */
VMM_EXTERN int vmm_snapshot_load_buffer(const void *buf, size_t len, vmm_snapshot **out);

/** What the last successful vmm_snapshot_restore() of a VM did. */
typedef struct vmm_snapshot_stats {
    /** Guest pages (VMM_PAGE_SIZE bytes) found written since the snapshot (all
     *  of them for a full restore). KVM may count a page the guest only read
     *  (it logs pages it maps writable); with nested paging (EPT, NPT) that
     *  includes the guest page-table pages the CPU walked. */
    uint64_t pages_dirty;
    /** Of those, the pages whose content differed from the snapshot and were
     *  copied back (all of them for a full restore). */
    uint64_t pages_copied;
    uint64_t pages_total; /**< pages of guest RAM in the VM */
    int full;             /**< 1: all memory was copied (the VM's memory did not derive from
                               this snapshot); 0: only the pages written since */
    /** 1: KVM's shadow page tables were dropped because memory changed (hosts
     *  with shadow paging only, see vmm_snapshot_restore()) */
    int shadow_flushed;
    uint64_t duration_ns; /**< wall-clock time of the whole restore */
} vmm_snapshot_stats;

/**
 * Statistics of the VM's last successful vmm_snapshot_restore(), for tuning
 * and benchmarks (all zero before the first).
 * @return 0; VMM_EINVAL for NULL. Not thread-safe against a restore of the VM.
 */
VMM_EXTERN int vmm_snapshot_last_restore(const vmm_vm *vm, vmm_snapshot_stats *stats);

VMM_END_DECLS

#endif
