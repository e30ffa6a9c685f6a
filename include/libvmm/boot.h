/* SPDX-License-Identifier: MIT */
/** @file boot.h  Loading guest images into guest memory. */
#ifndef LIBVMM_BOOT_H
#define LIBVMM_BOOT_H

#include "common.h"

VMM_BEGIN_DECLS

/**
 * Copy a flat binary image file into guest RAM at gpa.
 * @param vm    The VM; the whole image must fit in mapped RAM.
 * @param path  The file.
 * @param gpa   Guest-physical load address.
 * @param size  Receives the image size in bytes; may be NULL.
 * @return 0; VMM_ENOENT/VMM_EIO (file), VMM_EFAULT (does not fit in RAM), VMM_EINVAL.
 */
VMM_EXTERN int vmm_boot_flat(vmm_vm *vm, const char *path, uint64_t gpa, uint64_t *size);

/**
 * Load an ELF64 little-endian x86-64 executable into guest RAM.
 *
 * The file must be ET_EXEC, or ET_DYN linked at the addresses it is to run at:
 * nothing is relocated and no interpreter is loaded. For every PT_LOAD segment,
 * p_filesz bytes at file offset p_offset are copied to the guest-physical
 * address p_paddr (p_vaddr is ignored), and the rest of the segment up to
 * p_memsz is zeroed. Segments with p_memsz 0 are skipped; other headers are
 * ignored. Each segment must lie within one RAM region, and segments must not
 * overlap each other in guest memory.
 *
 * The whole file is validated, and every segment checked to lie in RAM, before
 * any byte is written, so an image refused with VMM_EINVAL or VMM_EFAULT leaves
 * guest memory untouched; only a read error while copying (VMM_EIO) can leave
 * it partly written. The file is read with pread() and never held in memory;
 * it may be at most 1 GiB and have at most 64 program headers.
 *
 * @param vm     The VM. Must not be called while one of its vCPUs runs.
 * @param path   The file; opened and closed by the call (not kept).
 * @param entry  Receives e_entry, a virtual address: it is the physical one when
 *               the image is linked with p_vaddr == p_paddr and run identity-mapped
 *               (as vmm_x86_setup() maps long mode). May be NULL. Unchanged on error.
 * @return 0; VMM_EINVAL (NULL vm or path; not an ELF64 LE x86-64 executable;
 *         malformed header; bad program header table; more than 64 program headers;
 *         no non-empty PT_LOAD segment; p_filesz > p_memsz; a segment extending past
 *         the end of the file; offsets or sizes overflowing 64 bits; two PT_LOAD
 *         segments overlapping in guest memory; file larger than 1 GiB),
 *         VMM_ENOENT (no such file), VMM_EIO (other open/read errors, not a regular
 *         file), VMM_EFAULT (a segment not inside one guest RAM region). The
 *         message from vmm_error_last() names the file and the offending segment.
 */
VMM_EXTERN int vmm_boot_elf(vmm_vm *vm, const char *path, uint64_t *entry);

VMM_END_DECLS

#endif
