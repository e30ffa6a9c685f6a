/* SPDX-License-Identifier: MIT */
/* The sandbox's program loader: checking a static ELF image and laying out the
 * initial stack (argc, argv, envp, auxv) as Linux does. Pure functions. */
#include <cpuid.h>
#include <elf.h>
#include <string.h>

#include "sandbox_internal.h"

#define PAGE 4096ull

static uint64_t round_down(uint64_t v)
{
    return v & ~(PAGE - 1);
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, sizeof v);
}

static int check_header(const Elf64_Ehdr *eh, size_t len)
{
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return vmm__err(VMM_EINVAL, "not an ELF file (bad magic)");
    if (eh->e_ident[EI_CLASS] != ELFCLASS64)
        return vmm__err(VMM_EINVAL, "not a 64-bit ELF file (class %u)", eh->e_ident[EI_CLASS]);
    if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return vmm__err(VMM_EINVAL, "not a little-endian ELF file");
    if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
        return vmm__err(VMM_EINVAL, "unknown ELF version");
    if (eh->e_machine != EM_X86_64)
        return vmm__err(VMM_EINVAL, "not an x86-64 program (machine %u)", eh->e_machine);
    if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
        return vmm__err(VMM_EINVAL, "not an executable (ELF type %u)", eh->e_type);
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return vmm__err(VMM_EINVAL, "program header size %u, not %zu", eh->e_phentsize,
                        sizeof(Elf64_Phdr));
    if (eh->e_phnum == 0 || eh->e_phnum > VMM__SBX_MAX_PHDRS)
        return vmm__err(VMM_EINVAL, "%u program headers (1..%u accepted)", eh->e_phnum,
                        VMM__SBX_MAX_PHDRS);
    uint64_t table = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
    if (eh->e_phoff > len || table > len - eh->e_phoff)
        return vmm__err(VMM_EINVAL,
                        "program headers at offset 0x%llx lie past the end of the "
                        "file (%zu bytes)",
                        (unsigned long long)eh->e_phoff, len);
    return 0;
}

static int check_load(const Elf64_Phdr *ph, unsigned int i, size_t len, uint64_t bias,
                      uint64_t user_lo, uint64_t user_hi, struct vmm__sbx_seg *seg)
{
    if (ph->p_filesz > ph->p_memsz)
        return vmm__err(VMM_EINVAL, "segment %u: file size 0x%llx exceeds memory size 0x%llx", i,
                        (unsigned long long)ph->p_filesz, (unsigned long long)ph->p_memsz);
    if (ph->p_offset > len || ph->p_filesz > len - ph->p_offset)
        return vmm__err(VMM_EINVAL, "segment %u: bytes 0x%llx+0x%llx lie past the end of the file",
                        i, (unsigned long long)ph->p_offset, (unsigned long long)ph->p_filesz);
    if ((ph->p_offset & (PAGE - 1)) != (ph->p_vaddr & (PAGE - 1)))
        return vmm__err(VMM_EINVAL,
                        "segment %u: offset 0x%llx and address 0x%llx differ modulo the page size",
                        i, (unsigned long long)ph->p_offset, (unsigned long long)ph->p_vaddr);
    uint64_t va = ph->p_vaddr + bias;
    if (va < ph->p_vaddr || ph->p_memsz > UINT64_MAX - va)
        return vmm__err(VMM_EINVAL, "segment %u: address 0x%llx + size 0x%llx overflows", i,
                        (unsigned long long)ph->p_vaddr, (unsigned long long)ph->p_memsz);
    if (va < user_lo)
        return vmm__err(VMM_EINVAL,
                        "segment %u at 0x%llx lies below 0x%llx, where the "
                        "program's memory starts",
                        i, (unsigned long long)va, (unsigned long long)user_lo);
    if (va + ph->p_memsz > user_hi)
        return vmm__err(VMM_ENOMEM,
                        "segment %u (0x%llx-0x%llx) does not fit in the program's memory "
                        "(ends at 0x%llx)",
                        i, (unsigned long long)va, (unsigned long long)(va + ph->p_memsz),
                        (unsigned long long)user_hi);
    *seg = (struct vmm__sbx_seg){ph->p_offset, ph->p_filesz, va, ph->p_memsz};
    return 0;
}

/* The image's page-rounded extent and its entry point, which must lie in an
 * executable segment (exec[j]: segment j is). */
static int image_extent(struct vmm__sbx_image *img, const bool *exec, uint64_t entry)
{
    img->lo = UINT64_MAX;
    img->entry = entry;
    bool entry_ok = false;
    for (size_t j = 0; j < img->nsegs; j++) {
        const struct vmm__sbx_seg *s = &img->segs[j];
        if (round_down(s->vaddr) < img->lo)
            img->lo = round_down(s->vaddr);
        /* s->vaddr + memsz <= user_hi, so rounding up cannot wrap. */
        uint64_t end = round_down(s->vaddr + s->memsz + PAGE - 1);
        if (end > img->hi)
            img->hi = end;
        if (exec[j] && entry >= s->vaddr && entry - s->vaddr < s->memsz)
            entry_ok = true;
    }
    if (!entry_ok)
        return vmm__err(VMM_EINVAL, "entry point 0x%llx is not in an executable segment",
                        (unsigned long long)entry);
    return 0;
}

/* Whether [va, va + len) lies in bytes a segment loads from the file. */
static bool loaded(const struct vmm__sbx_image *img, uint64_t va, uint64_t len)
{
    for (size_t j = 0; j < img->nsegs; j++)
        if (va >= img->segs[j].vaddr && va - img->segs[j].vaddr <= img->segs[j].filesz &&
            len <= img->segs[j].filesz - (va - img->segs[j].vaddr))
            return true;
    return false;
}

int vmm__sbx_elf_check(const uint8_t *buf, size_t len, uint64_t user_lo, uint64_t user_hi,
                       struct vmm__sbx_image *img)
{
    if (!buf || !img)
        return vmm__err(VMM_EINVAL, "NULL argument");
    memset(img, 0, sizeof *img);
    Elf64_Ehdr eh;
    if (len < sizeof eh)
        return vmm__err(VMM_EINVAL, "file too short for an ELF header (%zu bytes)", len);
    memcpy(&eh, buf, sizeof eh);
    int rc = check_header(&eh, len);
    if (rc < 0)
        return rc;
    img->bias = eh.e_type == ET_DYN ? VMM__SBX_PIE_BASE : 0;
    img->phnum = eh.e_phnum;
    uint64_t phdr_va = 0;
    bool have_phdr = false, pt_phdr = false;
    Elf64_Phdr phs[VMM__SBX_MAX_PHDRS];
    memcpy(phs, buf + eh.e_phoff, (size_t)eh.e_phnum * sizeof phs[0]);
    bool exec[VMM__SBX_MAX_SEGS] = {false};
    for (unsigned int i = 0; i < eh.e_phnum; i++) {
        const Elf64_Phdr *ph = &phs[i];
        if (ph->p_type == PT_INTERP)
            return vmm__err(VMM_EINVAL, "the program is dynamically linked (it names an "
                                        "interpreter); only static programs run in a sandbox");
        if (ph->p_type == PT_PHDR) {
            pt_phdr = true;
            phdr_va = ph->p_vaddr + img->bias;
        }
        if (ph->p_type != PT_LOAD || ph->p_memsz == 0)
            continue;
        if (img->nsegs == VMM__SBX_MAX_SEGS)
            return vmm__err(VMM_EINVAL, "more than %d loadable segments", VMM__SBX_MAX_SEGS);
        struct vmm__sbx_seg *seg = &img->segs[img->nsegs];
        if ((rc = check_load(ph, i, len, img->bias, user_lo, user_hi, seg)) < 0)
            return rc;
        for (size_t j = 0; j < img->nsegs; j++)
            if (vmm__ranges_overlap(seg->vaddr, seg->memsz, img->segs[j].vaddr, img->segs[j].memsz))
                return vmm__err(VMM_EINVAL, "segment %u (0x%llx-0x%llx) overlaps another", i,
                                (unsigned long long)seg->vaddr,
                                (unsigned long long)(seg->vaddr + seg->memsz));
        exec[img->nsegs] = (ph->p_flags & PF_X) != 0;
        uint64_t table = (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
        if (!pt_phdr && !have_phdr && eh.e_phoff >= ph->p_offset &&
            eh.e_phoff - ph->p_offset <= ph->p_filesz &&
            table <= ph->p_filesz - (eh.e_phoff - ph->p_offset)) {
            have_phdr = true;
            phdr_va = seg->vaddr + (eh.e_phoff - ph->p_offset);
        }
        img->nsegs++;
    }
    if (img->nsegs == 0)
        return vmm__err(VMM_EINVAL, "no loadable segment");
    if ((rc = image_extent(img, exec, eh.e_entry + img->bias)) < 0)
        return rc;
    if (pt_phdr) /* PT_PHDR must name bytes the file loads (not a zero-filled tail) */
        have_phdr = loaded(img, phdr_va, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr));
    if (!have_phdr)
        return vmm__err(VMM_EINVAL, "the program headers are not in a loaded segment");
    img->phdr = phdr_va;
    return 0;
}

/* The host CPU's CPUID.1:EDX feature bits, as Linux reports them in AT_HWCAP. */
static uint64_t hwcap(void)
{
    unsigned int a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) ? d : 0;
}

/* How many argv and envp strings there are (count[0], count[1]) and their
 * bytes with the NULs: argv and envp count together against both caps. */
static int count_strings(const char *const *argv, const char *const *envp, size_t count[2],
                         size_t *bytes)
{
    const char *const *lists[2] = {argv, envp};
    count[0] = count[1] = 0;
    *bytes = 0;
    for (int l = 0; l < 2; l++) {
        for (; lists[l] && lists[l][count[l]]; count[l]++) {
            if (count[0] + count[1] >= VMM__SBX_MAX_ARGS)
                return vmm__err(VMM_ERANGE, "more than %u arguments and environment strings",
                                VMM__SBX_MAX_ARGS);
            *bytes += strnlen(lists[l][count[l]], VMM__SBX_MAX_ARG_BYTES + 1) + 1;
            if (*bytes > VMM__SBX_MAX_ARG_BYTES)
                return vmm__err(VMM_ERANGE, "arguments and environment exceed %u bytes",
                                VMM__SBX_MAX_ARG_BYTES);
        }
    }
    return 0;
}

int vmm__sbx_build_stack(uint8_t *mem, uint64_t stack_lo, uint64_t stack_top,
                         const struct vmm__sbx_image *img, const char *const *argv,
                         const char *const *envp, const uint8_t random16[16], uint64_t *rsp)
{
    if (!mem || !img || !argv || !random16 || !rsp || stack_top <= stack_lo)
        return vmm__err(VMM_EINVAL, "vmm__sbx_build_stack: bad argument");
    if (!argv[0])
        return vmm__err(VMM_EINVAL, "argv is empty (argv[0] is the program's name)");
    static const char platform[] = "x86_64";
    size_t count[2], bytes;
    int rc = count_strings(argv, envp, count, &bytes);
    if (rc < 0)
        return rc;
    size_t argc = count[0], envc = count[1];
    size_t execfn_len = strlen(argv[0]) + 1;
    enum { NAUX = 19 };
    size_t words = 1 + argc + 1 + envc + 1 + 2 * NAUX;
    /* From the top: AT_EXECFN, AT_PLATFORM, AT_RANDOM, the argv and envp
     * strings, then (16-byte aligned) argc, argv, NULL, envp, NULL, auxv. */
    uint64_t need = execfn_len + sizeof platform + 16 + 16 + bytes + words * 8 + 16;
    uint64_t size = stack_top - stack_lo;
    if (need + PAGE > size)
        return vmm__err(VMM_ENOMEM,
                        "arguments and environment (%llu bytes) do not fit in the "
                        "stack (%llu bytes)",
                        (unsigned long long)need, (unsigned long long)size);
#define AT(gva) (mem + ((gva)-stack_lo))
    uint64_t top = stack_top - execfn_len;
    uint64_t execfn = top;
    memcpy(AT(top), argv[0], execfn_len);
    top -= sizeof platform;
    uint64_t plat = top;
    memcpy(AT(top), platform, sizeof platform);
    top = (top - 16) & ~15ull;
    uint64_t rnd = top;
    memcpy(AT(top), random16, 16);
    uint64_t str = top - bytes;
    uint64_t sp = (str - words * 8) & ~15ull;
    uint64_t t = sp;
    put64(AT(t), argc);
    t += 8;
    for (size_t i = 0; i < argc + envc + 1; i++) {
        if (i == argc) { /* the NULL ending argv */
            put64(AT(t), 0);
            t += 8;
            continue;
        }
        const char *src = i < argc ? argv[i] : envp[i - argc - 1];
        size_t l = strlen(src) + 1;
        memcpy(AT(str), src, l);
        put64(AT(t), str);
        t += 8;
        str += l;
    }
    put64(AT(t), 0);
    t += 8;
    const uint64_t aux[NAUX * 2] = {AT_PHDR,   img->phdr,  AT_PHENT,    sizeof(Elf64_Phdr),
                                    AT_PHNUM,  img->phnum, AT_PAGESZ,   PAGE,
                                    AT_BASE,   0,          AT_FLAGS,    0,
                                    AT_ENTRY,  img->entry, AT_UID,      0,
                                    AT_EUID,   0,          AT_GID,      0,
                                    AT_EGID,   0,          AT_PLATFORM, plat,
                                    AT_HWCAP,  hwcap(),    AT_CLKTCK,   100,
                                    AT_SECURE, 0,          AT_RANDOM,   rnd,
                                    AT_HWCAP2, 0,          AT_EXECFN,   execfn,
                                    AT_NULL,   0};
    memcpy(AT(t), aux, sizeof aux);
#undef AT
    *rsp = sp;
    return 0;
}
