/* SPDX-License-Identifier: MIT */
/* ELF64 x86-64 loader: PT_LOAD segments copied to their physical addresses. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/internal.h"
#include "elf.h"

/* The headers are read straight into <elf.h> structures; only ELFDATA2LSB files
 * are accepted, so that is correct on a little-endian host only. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the ELF loader assumes a LE host");

typedef unsigned long long ull;

/* pread exactly len bytes at off (off + len <= VMM__ELF_MAX_FILE_SIZE). */
static int read_at(int fd, void *buf, uint64_t len, uint64_t off, const char *name)
{
    uint8_t *p = buf;
    while (len > 0) {
        size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t n = pread(fd, p, chunk, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            return vmm__err(VMM_EIO, "%s: read at offset 0x%llx: %s", name, (ull)off,
                            n < 0 ? strerror(e) : "file shrank");
        }
        p += n;
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return 0;
}

static const char *type_name(unsigned int type)
{
    switch (type) {
    case ET_NONE:
        return "ET_NONE";
    case ET_REL:
        return "ET_REL, a relocatable object";
    case ET_CORE:
        return "ET_CORE, a core dump";
    default:
        return "unknown";
    }
}

/* ELF header checks (System V gABI, "ELF Header"); the program header table
 * must lie inside the file. */
static int check_header(const Elf64_Ehdr *eh, uint64_t file_size, const char *name)
{
    const unsigned char *id = eh->e_ident;
    if (id[EI_CLASS] != ELFCLASS64)
        return vmm__err(VMM_EINVAL, "%s: ELF class %u is not ELFCLASS64%s", name, id[EI_CLASS],
                        id[EI_CLASS] == ELFCLASS32 ? " (a 32-bit ELF)" : "");
    if (id[EI_DATA] != ELFDATA2LSB)
        return vmm__err(VMM_EINVAL, "%s: ELF data encoding %u is not little-endian%s", name,
                        id[EI_DATA], id[EI_DATA] == ELFDATA2MSB ? " (big-endian)" : "");
    if (id[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
        return vmm__err(VMM_EINVAL, "%s: unknown ELF version %u/%u", name, id[EI_VERSION],
                        (unsigned int)eh->e_version);
    if (eh->e_machine != EM_X86_64)
        return vmm__err(VMM_EINVAL, "%s: machine %u is not x86-64 (EM_X86_64 = %u)", name,
                        eh->e_machine, EM_X86_64);
    if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
        return vmm__err(VMM_EINVAL, "%s: ELF type %u (%s) is not an executable (ET_EXEC or ET_DYN)",
                        name, eh->e_type, type_name(eh->e_type));
    if (eh->e_ehsize != sizeof(Elf64_Ehdr))
        return vmm__err(VMM_EINVAL, "%s: e_ehsize %u is not %zu", name, eh->e_ehsize,
                        sizeof(Elf64_Ehdr));
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return vmm__err(VMM_EINVAL, "%s: program header size e_phentsize %u is not %zu", name,
                        eh->e_phentsize, sizeof(Elf64_Phdr));
    if (eh->e_phnum == 0)
        return vmm__err(VMM_EINVAL, "%s: no PT_LOAD segment (no program headers)", name);
    /* PN_XNUM (0xffff) means the count is in section 0; far above the cap anyway. */
    if (eh->e_phnum > VMM__ELF_MAX_PHDRS)
        return vmm__err(VMM_EINVAL, "%s: %u program headers, at most %u are accepted", name,
                        eh->e_phnum, VMM__ELF_MAX_PHDRS);
    uint64_t table = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
    if (eh->e_phoff > file_size || table > file_size - eh->e_phoff)
        return vmm__err(VMM_EINVAL,
                        "%s: program header table at e_phoff 0x%llx (0x%llx bytes) extends past "
                        "the end of the file (%llu bytes)",
                        name, (ull)eh->e_phoff, (ull)table, (ull)file_size);
    return 0;
}

/* One PT_LOAD entry: sizes consistent, file bytes inside the file, guest range not wrapping. */
static int check_load(const Elf64_Phdr *ph, unsigned int i, uint64_t file_size, const char *name)
{
    if (ph->p_filesz > ph->p_memsz)
        return vmm__err(VMM_EINVAL, "%s: segment %u: p_filesz 0x%llx is larger than p_memsz 0x%llx",
                        name, i, (ull)ph->p_filesz, (ull)ph->p_memsz);
    if (ph->p_filesz > UINT64_MAX - ph->p_offset)
        return vmm__err(VMM_EINVAL, "%s: segment %u: p_offset 0x%llx + p_filesz 0x%llx overflows",
                        name, i, (ull)ph->p_offset, (ull)ph->p_filesz);
    if (ph->p_filesz > 0 && ph->p_offset + ph->p_filesz > file_size)
        return vmm__err(VMM_EINVAL,
                        "%s: segment %u: file bytes [0x%llx, 0x%llx) extend past the end of the "
                        "file (%llu bytes)",
                        name, i, (ull)ph->p_offset, (ull)(ph->p_offset + ph->p_filesz),
                        (ull)file_size);
    if (ph->p_memsz > UINT64_MAX - ph->p_paddr)
        return vmm__err(VMM_EINVAL, "%s: segment %u: p_paddr 0x%llx + p_memsz 0x%llx overflows",
                        name, i, (ull)ph->p_paddr, (ull)ph->p_memsz);
    return 0;
}

int vmm__elf_parse(int fd, uint64_t file_size, const char *name, struct vmm__elf_segment *segs,
                   size_t *nsegs, uint64_t *entry)
{
    if (fd < 0 || !name || !segs || !nsegs)
        return vmm__err(VMM_EINVAL, "vmm__elf_parse: bad argument");
    if (file_size > VMM__ELF_MAX_FILE_SIZE)
        return vmm__err(VMM_EINVAL, "%s: file is %llu bytes, more than the %llu accepted", name,
                        (ull)file_size, (ull)VMM__ELF_MAX_FILE_SIZE);

    Elf64_Ehdr eh;
    memset(&eh, 0, sizeof eh);
    uint64_t head = file_size < sizeof eh ? file_size : sizeof eh;
    int rc = read_at(fd, &eh, head, 0, name);
    if (rc < 0)
        return rc;
    if (head >= SELFMAG && memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
        return vmm__err(VMM_EINVAL, "%s: not an ELF file (bad magic)", name);
    if (head < sizeof eh)
        return vmm__err(VMM_EINVAL, "%s: truncated ELF header: the file is %llu bytes, need %zu",
                        name, (ull)file_size, sizeof eh);
    rc = check_header(&eh, file_size, name);
    if (rc < 0)
        return rc;

    Elf64_Phdr ph[VMM__ELF_MAX_PHDRS];
    rc = read_at(fd, ph, (uint64_t)eh.e_phnum * sizeof ph[0], eh.e_phoff, name);
    if (rc < 0)
        return rc;

    size_t n = 0, loads = 0;
    for (unsigned int i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        loads++;
        rc = check_load(&ph[i], i, file_size, name);
        if (rc < 0)
            return rc;
        if (ph[i].p_memsz == 0)
            continue; /* legal, and nothing to load */
        if (n == *nsegs)
            return vmm__err(VMM_EINVAL, "%s: more than %zu PT_LOAD segments", name, *nsegs);
        struct vmm__elf_segment *s = &segs[n];
        s->index = i;
        s->offset = ph[i].p_offset;
        s->filesz = ph[i].p_filesz;
        s->paddr = ph[i].p_paddr;
        s->memsz = ph[i].p_memsz;
        /* Disjoint from every earlier segment: otherwise one would silently
         * overwrite (or zero) part of another. At most 64^2/2 comparisons. */
        for (size_t j = 0; j < n; j++) {
            const struct vmm__elf_segment *o = &segs[j];
            if (s->paddr < o->paddr + o->memsz && o->paddr < s->paddr + s->memsz)
                return vmm__err(VMM_EINVAL,
                                "%s: segments %u [0x%llx, 0x%llx) and %u [0x%llx, 0x%llx) "
                                "overlap in guest memory",
                                name, o->index, (ull)o->paddr, (ull)(o->paddr + o->memsz), s->index,
                                (ull)s->paddr, (ull)(s->paddr + s->memsz));
        }
        n++;
    }
    if (loads == 0)
        return vmm__err(VMM_EINVAL, "%s: no PT_LOAD segment", name);
    if (n == 0)
        return vmm__err(VMM_EINVAL, "%s: every PT_LOAD segment is empty (p_memsz 0)", name);
    *nsegs = n;
    if (entry)
        *entry = eh.e_entry;
    return 0;
}

int vmm__elf_load(vmm_vm *vm, int fd, uint64_t file_size, const char *path, uint64_t *entry,
                  uint64_t *end)
{
    struct vmm__elf_segment segs[VMM__ELF_MAX_PHDRS];
    size_t n = VMM__ARRAY_LEN(segs);
    uint64_t e;
    int rc = vmm__elf_parse(fd, file_size, path, segs, &n, &e);
    if (rc < 0)
        return rc;

    /* Every segment must be in RAM before any byte is written, so a refused
     * image leaves guest memory as it was. */
    void *host[VMM__ELF_MAX_PHDRS];
    uint64_t top = 0;
    for (size_t i = 0; i < n; i++) {
        if (vmm_mem_host_ptr(vm, segs[i].paddr, segs[i].memsz, &host[i]) < 0)
            return vmm__err(VMM_EFAULT,
                            "%s: segment %u [0x%llx, 0x%llx) is outside guest RAM (it must lie "
                            "in one RAM region)",
                            path, segs[i].index, (ull)segs[i].paddr,
                            (ull)(segs[i].paddr + segs[i].memsz));
        if (segs[i].paddr + segs[i].memsz > top)
            top = segs[i].paddr + segs[i].memsz;
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = read_at(fd, host[i], segs[i].filesz, segs[i].offset, path)) < 0)
            return rc;
        memset((uint8_t *)host[i] + segs[i].filesz, 0, segs[i].memsz - segs[i].filesz);
    }
    if (entry)
        *entry = e;
    if (end)
        *end = top;
    return 0;
}

int vmm_boot_elf(vmm_vm *vm, const char *path, uint64_t *entry)
{
    if (!vm || !path)
        return vmm__err(VMM_EINVAL, "vmm_boot_elf: NULL argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return vmm__err(e == ENOENT ? VMM_ENOENT : VMM_EIO, "%s: %s", path, strerror(e));
    }
    int rc;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        rc = vmm__err(VMM_EIO, "%s: not a regular file", path);
    else
        rc = vmm__elf_load(vm, fd, (uint64_t)st.st_size, path, entry, NULL);
    close(fd);
    return rc;
}
