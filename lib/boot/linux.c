/* SPDX-License-Identifier: MIT */
/* Booting Linux through the x86-64 boot protocol's 64-bit entry: a bzImage's
 * protected-mode kernel or a vmlinux ELF in guest RAM, boot_params with the
 * setup header, command line, initrd and e820 map, an MP table describing the
 * vCPUs and the IOAPIC, CPUID for each vCPU and vCPU 0 at the entry. The
 * tables themselves are built by linux_tables.c. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../virtio/virtio.h"
#include "elf.h"
#include "linux.h"

typedef unsigned long long ull;

#define LINUX_MAX_FILE     (512ull << 20)
#define VMLINUX_CMDLINE    2047u
#define VMLINUX_INITRD_MAX 0x7fffffffu

/* ---- loading ---- */

static int open_file(const char *path, const char *what, int *fd, uint64_t *size)
{
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        int e = errno;
        return vmm__err(e == ENOENT ? VMM_ENOENT : VMM_EIO, "%s %s: %s", what, path, strerror(e));
    }
    struct stat st;
    if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(*fd);
        return vmm__err(VMM_EIO, "%s %s: not a regular file", what, path);
    }
    if ((uint64_t)st.st_size > LINUX_MAX_FILE) {
        close(*fd);
        return vmm__err(VMM_EINVAL, "%s %s: larger than %llu MiB", what, path,
                        LINUX_MAX_FILE >> 20);
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

/* Read len bytes at file offset off straight into guest RAM at gpa. */
static int read_into(vmm_vm *vm, int fd, uint64_t off, uint64_t len, uint64_t gpa, const char *path)
{
    void *host;
    if (vmm_mem_host_ptr(vm, gpa, len ? len : 1, &host) < 0)
        return vmm__err(VMM_EFAULT, "%s: %llu bytes at 0x%llx do not fit in guest RAM", path,
                        (ull)len, (ull)gpa);
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (uint8_t *)host + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return vmm__err(VMM_EIO, "%s: read: %s", path, n < 0 ? strerror(errno) : "file shrank");
        done += (uint64_t)n;
    }
    return 0;
}

/* The kernel: where it ends in guest memory, its entry and the setup header
 * fields it brings into boot_params. */
struct kernel {
    uint64_t entry, end;
    uint32_t initrd_max, cmdline_max;
};

static int load_bzimage(vmm_vm *vm, const char *path, int fd, uint64_t size, uint8_t *bp,
                        struct kernel *k)
{
    uint8_t head[0x400];
    if (pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head)
        return vmm__err(VMM_EIO, "kernel %s: cannot read the setup header", path);
    struct vmm__bzimage bz;
    const char *why;
    if (vmm__bzimage_parse(head, sizeof head, size, &bz, &why) < 0)
        return vmm__err(VMM_EINVAL, "kernel %s: %s", path, why);
    void *host;
    if (vmm_mem_host_ptr(vm, bz.load, bz.init_size, &host) < 0)
        return vmm__err(VMM_EFAULT,
                        "kernel %s: needs [0x%llx, 0x%llx) of RAM (init_size) for the kernel", path,
                        (ull)bz.load, (ull)(bz.load + bz.init_size));
    int rc = read_into(vm, fd, bz.setup_size, size - bz.setup_size, bz.load, path);
    if (rc < 0)
        return rc;
    memcpy(bp + BP_HDR, head + BP_HDR, bz.hdr_len);
    vmm__lx_put32(bp, BP_CODE32_START, (uint32_t)bz.load);
    k->entry = bz.load + 0x200; /* startup_64 */
    k->end = bz.load + bz.init_size;
    k->initrd_max = bz.initrd_max;
    k->cmdline_max = bz.cmdline_max;
    return 0;
}

static int load_vmlinux(vmm_vm *vm, const char *path, int fd, uint64_t size, uint8_t *bp,
                        struct kernel *k)
{
    int rc = vmm__elf_load(vm, fd, size, path, &k->entry, &k->end);
    if (rc < 0)
        return rc;
    /* No setup header in a vmlinux: give the kernel the one a loader would. */
    vmm__lx_put16(bp, BP_BOOT_FLAG, 0xaa55);
    memcpy(bp + BP_HEADER, "HdrS", 4);
    vmm__lx_put16(bp, BP_VERSION, 0x20f);
    vmm__lx_put32(bp, BP_KERNEL_ALIGNMENT, 0x1000000);
    vmm__lx_put32(bp, BP_CMDLINE_SIZE, VMLINUX_CMDLINE);
    vmm__lx_put32(bp, BP_INITRD_ADDR_MAX, VMLINUX_INITRD_MAX);
    bp[BP_LOADFLAGS] = LOADED_HIGH;
    k->initrd_max = VMLINUX_INITRD_MAX;
    k->cmdline_max = VMLINUX_CMDLINE;
    return 0;
}

/* Place the initrd at the top of the RAM region below the limit, above the
 * kernel. */
static int load_initrd(vmm_vm *vm, const char *path, const struct kernel *k, uint8_t *bp)
{
    int fd;
    uint64_t size;
    int rc = open_file(path, "initrd", &fd, &size);
    if (rc < 0)
        return rc;
    uint64_t limit = (uint64_t)k->initrd_max + 1;
    uint64_t gpa = 0;
    pthread_rwlock_rdlock(&vm->mem_lock);
    for (size_t i = 0; i < vm->nregions; i++) {
        const struct vmm__region *r = &vm->regions[i];
        uint64_t top = r->gpa + r->size < limit ? r->gpa + r->size : limit;
        if (r->flags & VMM_MEM_READONLY || top <= r->gpa || top - r->gpa < size)
            continue;
        uint64_t at = (top - size) & ~(uint64_t)(VMM_PAGE_SIZE - 1);
        if (at >= r->gpa && at >= k->end && at > gpa)
            gpa = at;
    }
    pthread_rwlock_unlock(&vm->mem_lock);
    if (!gpa)
        rc = vmm__err(VMM_EFAULT,
                      "initrd %s: %llu bytes do not fit in RAM between the kernel's end 0x%llx "
                      "and 0x%llx",
                      path, (ull)size, (ull)k->end, (ull)limit);
    else
        rc = read_into(vm, fd, 0, size, gpa, path);
    close(fd);
    if (rc < 0)
        return rc;
    vmm__lx_put32(bp, BP_RAMDISK_IMAGE, (uint32_t)gpa);
    vmm__lx_put32(bp, BP_RAMDISK_SIZE, (uint32_t)size);
    vmm__lx_put32(bp, BP_EXT_RAMDISK_IMAGE, (uint32_t)(gpa >> 32));
    vmm__lx_put32(bp, BP_EXT_RAMDISK_SIZE, (uint32_t)(size >> 32));
    return 0;
}

/* Whether the safe CPUID mode applies: asked for, or the default on a host
 * whose KVM runs on PVM (vmm_host_info.pvm). */
static bool cpuid_safe(vmm_vm *vm, const vmm_linux_boot *b)
{
    if (b->cpuid != VMM_LINUX_CPUID_AUTO)
        return b->cpuid == VMM_LINUX_CPUID_SAFE;
    return vm->hv->vm_host_info(vm->hvm)->pvm;
}

/* The command line: the caller's, "noxsave" in the safe CPUID mode (a PVM
 * host shows the guest its own XSAVE bit whatever the CPUID table says), and
 * a virtio_mmio.device= for each virtio device that
 * has an interrupt line. */
static int build_cmdline(vmm_vm *vm, const vmm_linux_boot *b, bool safe, char *out, size_t max)
{
    size_t len = 0;
    const char *user = b->cmdline ? b->cmdline : "";
    int n = snprintf(out, max + 1, "%s%s%s", user, safe && *user ? " " : "", safe ? "noxsave" : "");
    if (n < 0 || (size_t)n > max)
        return vmm__err(VMM_EINVAL, "the command line is longer than the kernel's %zu bytes", max);
    len = (size_t)n;
    if (b->flags & VMM_LINUX_NO_VIRTIO_CMDLINE)
        return 0;
    /* Devices are listed newest first: walk them oldest first, so that the
     * guest numbers them in attach order. */
    vmm_device **devs = calloc(vm->ndevices ? vm->ndevices : 1, sizeof *devs);
    if (!devs)
        return vmm__err(VMM_ENOMEM, "out of memory");
    size_t nd = 0;
    for (vmm_device *d = vm->devices; d && nd < vm->ndevices; d = d->next)
        devs[nd++] = d;
    int rc = 0;
    while (nd-- && rc == 0) {
        uint64_t base;
        int irq;
        if (!vmm__virtio_lookup(devs[nd], &base, &irq) || irq < 0)
            continue;
        n = snprintf(out + len, max + 1 - len, "%svirtio_mmio.device=%u@0x%llx:%d", len ? " " : "",
                     VMM__VIRTIO_MMIO_SIZE, (ull)base, irq);
        if (n < 0 || (size_t)n > max - len)
            rc = vmm__err(VMM_EINVAL,
                          "the command line with the virtio devices is longer than the "
                          "kernel's %zu bytes",
                          max);
        else
            len += (size_t)n;
    }
    free(devs);
    return rc;
}

#define CPUID_1_ECX_CX16    (1u << 13)
#define CPUID_1_ECX_FMA     (1u << 12)
#define CPUID_1_ECX_XSAVE   (1u << 26)
#define CPUID_1_ECX_OSXSAVE (1u << 27)
#define CPUID_1_ECX_AVX     (1u << 28)
#define CPUID_1_ECX_F16C    (1u << 29)
#define CPUID_7_EBX_AVX2    (1u << 5)
#define CPUID_7_EBX_AVX512  0xd0230000u /* F, DQ, IFMA, PF, ER, CD, BW, VL */

static int set_cpuids(vmm_vm *vm, bool safe, uint32_t *sig, uint32_t *features)
{
    size_t n = 0;
    int rc = vmm_x86_supported_cpuid(vm, NULL, 0, &n);
    if (rc < 0 && rc != VMM_ERANGE)
        return rc;
    vmm_cpuid_entry *e = calloc(n ? n : 1, sizeof *e);
    if (!e)
        return vmm__err(VMM_ENOMEM, "CPUID table: out of memory");
    if ((rc = vmm_x86_supported_cpuid(vm, e, n, &n)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (e[i].function == 1) {
            if (safe)
                e[i].ecx &= ~(CPUID_1_ECX_CX16 | CPUID_1_ECX_XSAVE | CPUID_1_ECX_OSXSAVE |
                              CPUID_1_ECX_AVX | CPUID_1_ECX_FMA | CPUID_1_ECX_F16C);
            *sig = e[i].eax;
            *features = e[i].edx;
        }
        if (safe && e[i].function == 7 && e[i].index == 0)
            e[i].ebx &= ~(CPUID_7_EBX_AVX2 | CPUID_7_EBX_AVX512);
        if (safe && e[i].function == 0xd)
            e[i].eax = e[i].ebx = e[i].ecx = e[i].edx = 0;
    }
    for (unsigned int v = 0; v < VMM__MAX_VCPUS; v++) {
        vmm_vcpu *c = vm->vcpus[v];
        if (!c)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (e[i].function == 1)
                e[i].ebx = (e[i].ebx & 0x00ffffffu) | (uint32_t)c->index << 24;
            if (e[i].function == 0xb || e[i].function == 0x1f)
                e[i].edx = c->index;
        }
        if ((rc = vmm_x86_set_cpuid(c, e, n)) < 0)
            goto out;
    }
out:
    free(e);
    return rc;
}

static const size_t boot_sizes[] = {0, sizeof(vmm_linux_boot)};

int vmm_linux_boot_init(vmm_linux_boot *b, unsigned int version)
{
    static const vmm_linux_boot defaults = VMM_LINUX_BOOT_INIT;
    return vmm__options_init(b, version, &defaults, boot_sizes, VMM_LINUX_BOOT_VERSION,
                             "vmm_linux_boot_init");
}

static int enter(vmm_vcpu *v, uint64_t entry)
{
    vmm_x86_setup_options o;
    vmm_x86_setup_options_init(&o, VMM_X86_SETUP_OPTIONS_VERSION);
    o.mode = VMM_X86_LONG;
    o.entry = entry;
    o.stack = VMM__LINUX_STACK;
    o.tables = VMM__LINUX_TABLES;
    int rc = vmm_x86_setup(v, &o);
    if (rc < 0)
        return rc;
    /* The protocol's selectors: __BOOT_CS 0x10 (64-bit code), __BOOT_DS 0x18.
     * The set-up's GDT has 32-bit code at 0x10: make it 64-bit code. */
    uint64_t code64 = 0x00af9b000000ffffull;
    if ((rc = vmm_mem_write(v->vm, VMM__LINUX_TABLES + 0x10, &code64, 8)) < 0)
        return rc;
    vmm_sregs s;
    if ((rc = vmm_vcpu_get_sregs(v, &s)) < 0)
        return rc;
    s.cs.selector = 0x10;
    if ((rc = vmm_vcpu_set_sregs(v, &s)) < 0)
        return rc;
    vmm_regs r;
    if ((rc = vmm_vcpu_get_regs(v, &r)) < 0)
        return rc;
    r.rsi = VMM__LINUX_BOOT_PARAMS;
    r.rflags = 2; /* interrupts off */
    return vmm_vcpu_set_regs(v, &r);
}

/* The options' rules and the VM's readiness: an irqchip, vCPU 0, no run. */
static int check_boot(vmm_vm *vm, const vmm_linux_boot *b)
{
    if (!b->kernel)
        return vmm__err(VMM_EINVAL, "vmm_boot_linux: no kernel");
    if (b->cpuid > VMM_LINUX_CPUID_SAFE)
        return vmm__err(VMM_EINVAL, "vmm_boot_linux: unknown cpuid policy %d", (int)b->cpuid);
    if (b->flags & ~(VMM_LINUX_NO_VIRTIO_CMDLINE | VMM_LINUX_NO_MPTABLE))
        return vmm__err(VMM_EINVAL, "vmm_boot_linux: unknown flags 0x%x", b->flags);
    if (!(vm->flags & VMM_VM_IRQCHIP))
        return vmm__err(VMM_ESTATE, "vmm_boot_linux: Linux needs the in-kernel irqchip "
                                    "(create the VM with VMM_VM_IRQCHIP)");
    if (vmm__vm_busy(vm))
        return vmm__err(VMM_ESTATE, "vmm_boot_linux: a vCPU of the VM is running");
    if (!vm->vcpus[0])
        return vmm__err(VMM_ESTATE, "vmm_boot_linux: create the VM's vCPUs (vCPU 0 at least) "
                                    "before booting");
    return 0;
}

/* The e820 map of the VM's RAM into map: its entry count, or <0 (Linux
 * needs the low memory the tables use). */
static int ram_map(vmm_vm *vm, struct vmm__e820 *map)
{
    pthread_rwlock_rdlock(&vm->mem_lock);
    size_t nram = vm->nregions;
    uint64_t(*ram)[2] = calloc(nram ? nram : 1, sizeof *ram);
    for (size_t i = 0; ram && i < nram; i++) {
        ram[i][0] = vm->regions[i].gpa;
        ram[i][1] = vm->regions[i].size;
    }
    pthread_rwlock_unlock(&vm->mem_lock);
    if (!ram)
        return vmm__err(VMM_ENOMEM, "vmm_boot_linux: out of memory");
    int nmap = vmm__linux_e820((const uint64_t(*)[2])ram, nram, map, BP_E820_MAX);
    free(ram);
    if (nmap == VMM_EFAULT)
        return vmm__err(VMM_EFAULT,
                        "vmm_boot_linux: Linux needs RAM from 0 to 0x%x (boot_params, "
                        "tables, command line, MP table)",
                        VMM__LINUX_EBDA_END);
    if (nmap < 0)
        return vmm__err(VMM_E2BIG, "vmm_boot_linux: more than %d e820 entries", BP_E820_MAX);
    return nmap;
}

/* Load the kernel (vmlinux or bzImage, by its magic) and fill boot_params'
 * setup header from it into bp. */
static int load_kernel(vmm_vm *vm, const char *path, uint8_t *bp, struct kernel *k)
{
    int fd, rc;
    uint64_t size;
    if ((rc = open_file(path, "kernel", &fd, &size)) < 0)
        return rc;
    uint8_t magic[4] = {0};
    if (pread(fd, magic, 4, 0) != 4)
        rc = vmm__err(VMM_EINVAL, "kernel %s: too short to be a kernel", path);
    else if (memcmp(magic, "\177ELF", 4) == 0)
        rc = load_vmlinux(vm, path, fd, size, bp, k);
    else
        rc = load_bzimage(vm, path, fd, size, bp, k);
    close(fd);
    return rc;
}

/* The command line at VMM__LINUX_CMDLINE, pointed to by bp. */
static int write_cmdline(vmm_vm *vm, const vmm_linux_boot *b, bool safe, const struct kernel *k,
                         uint8_t *bp)
{
    char *cmd = calloc(1, k->cmdline_max + 1);
    if (!cmd)
        return vmm__err(VMM_ENOMEM, "out of memory");
    int rc = build_cmdline(vm, b, safe, cmd, k->cmdline_max);
    if (rc >= 0)
        rc = vmm_mem_write(vm, VMM__LINUX_CMDLINE, cmd, strlen(cmd) + 1);
    free(cmd);
    if (rc < 0)
        return rc;
    vmm__lx_put32(bp, BP_CMD_LINE_PTR, VMM__LINUX_CMDLINE);
    vmm__lx_put32(bp, BP_EXT_CMD_LINE_PTR, 0);
    return 0;
}

/* An MP table for ncpus processors at VMM__LINUX_MPTABLE. */
static int write_mptable(vmm_vm *vm, unsigned int ncpus, uint32_t sig, uint32_t features)
{
    static const size_t cap = 16 + 44 + VMM__MAX_VCPUS * 20 + 64 * 8;
    uint8_t *mp = malloc(cap);
    int len =
        mp ? vmm__linux_mptable(mp, cap, VMM__LINUX_MPTABLE, ncpus, sig, features) : VMM_ENOMEM;
    if (len < 0) {
        free(mp);
        return len == VMM_ENOMEM ? vmm__err(len, "out of memory")
                                 : vmm__err(VMM_E2BIG, "%u vCPUs do not fit in an MP table", ncpus);
    }
    int rc = vmm_mem_write(vm, VMM__LINUX_MPTABLE, mp, (size_t)len);
    free(mp);
    return rc;
}

int vmm_boot_linux(vmm_vm *vm, const vmm_linux_boot *bp_in)
{
    if (!vm || !bp_in)
        return vmm__err(VMM_EINVAL, "vmm_boot_linux: NULL argument");
    vmm_linux_boot b = VMM_LINUX_BOOT_INIT;
    int rc = vmm__options_copy(&b, sizeof b, bp_in, boot_sizes, VMM_LINUX_BOOT_VERSION,
                               "vmm_linux_boot");
    if (rc < 0 || (rc = check_boot(vm, &b)) < 0)
        return rc;
    unsigned int ncpus = 0;
    for (unsigned int i = 0; i < VMM__MAX_VCPUS; i++)
        ncpus += vm->vcpus[i] != NULL;
    struct vmm__e820 map[BP_E820_MAX];
    int nmap = ram_map(vm, map);
    if (nmap < 0)
        return nmap;
    uint8_t *bp = calloc(1, VMM_PAGE_SIZE);
    if (!bp)
        return vmm__err(VMM_ENOMEM, "vmm_boot_linux: out of memory");
    struct kernel k;
    bool safe = cpuid_safe(vm, &b);
    uint32_t sig = 0, features = 0;
    if ((rc = load_kernel(vm, b.kernel, bp, &k)) < 0)
        goto out;
    bp[BP_TYPE_OF_LOADER] = 0xff;
    bp[BP_LOADFLAGS] |= LOADED_HIGH;
    if ((b.initrd && (rc = load_initrd(vm, b.initrd, &k, bp)) < 0) ||
        (rc = write_cmdline(vm, &b, safe, &k, bp)) < 0)
        goto out;
    bp[BP_E820_ENTRIES] = (uint8_t)nmap;
    for (int i = 0; i < nmap; i++) {
        vmm__lx_put64(bp, BP_E820_TABLE + i * 20, map[i].addr);
        vmm__lx_put64(bp, BP_E820_TABLE + i * 20 + 8, map[i].size);
        vmm__lx_put32(bp, BP_E820_TABLE + i * 20 + 16, map[i].type);
    }
    if ((rc = vmm_mem_write(vm, VMM__LINUX_BOOT_PARAMS, bp, VMM_PAGE_SIZE)) < 0 ||
        (rc = set_cpuids(vm, safe, &sig, &features)) < 0)
        goto out;
    if (!(b.flags & VMM_LINUX_NO_MPTABLE) && (rc = write_mptable(vm, ncpus, sig, features)) < 0)
        goto out;
    rc = enter(vm->vcpus[0], k.entry);
out:
    free(bp);
    if (rc < 0)
        vmm__err_prefix("vmm_boot_linux: ");
    return rc;
}
