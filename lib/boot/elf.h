/* SPDX-License-Identifier: MIT */
/* ELF64 loader internals: header and program-header validation, testable without a VM. */
#ifndef LIBVMM_BOOT_ELF_H
#define LIBVMM_BOOT_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "../core/internal.h"

/* Largest ELF file vmm_boot_elf() accepts. */
#define VMM__ELF_MAX_FILE_SIZE (1ull << 30)
/* Most program headers accepted (so the table is read into a fixed local array). */
#define VMM__ELF_MAX_PHDRS 64

/* A PT_LOAD segment that passed validation. */
struct vmm__elf_segment {
    unsigned int index; /* its program header number, for messages */
    uint64_t offset;    /* file offset; offset + filesz <= file size */
    uint64_t filesz;    /* bytes copied from the file; <= memsz */
    uint64_t paddr;     /* guest-physical load address; paddr + memsz does not wrap */
    uint64_t memsz;     /* bytes occupied in guest memory (> 0); the tail after filesz is zeroed */
};

/* Read and validate the ELF headers of the file open on fd, of file_size bytes
 * (read with pread only; the file offset is unchanged). name is used in error
 * messages. On entry *nsegs is the capacity of segs (at least
 * VMM__ELF_MAX_PHDRS suffices); on success it receives the number of non-empty
 * PT_LOAD segments stored, in program-header order, pairwise disjoint in guest
 * memory, and *entry (may be NULL) receives e_entry. Guest memory is not looked at.
 * Returns 0; VMM_EINVAL (not an ELF64 LE x86-64 executable, or malformed),
 * VMM_EIO (read error or the file shorter than file_size). */
VMM__HIDDEN int vmm__elf_parse(int fd, uint64_t file_size, const char *name,
                               struct vmm__elf_segment *segs, size_t *nsegs, uint64_t *entry);

/* Parse the ELF file open on fd (file_size bytes; name for messages) and
 * copy its segments into guest RAM, as vmm_boot_elf() documents: nothing is
 * written unless every segment lies in RAM. *entry receives e_entry and *end
 * the end of the highest segment in guest memory (each may be NULL). */
VMM__HIDDEN int vmm__elf_load(vmm_vm *vm, int fd, uint64_t file_size, const char *path,
                              uint64_t *entry, uint64_t *end);

#endif
