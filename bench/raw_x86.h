/* SPDX-License-Identifier: MIT */
/* x86-64 long mode built by hand for the benchmarks' raw-KVM references: the
 * layout vmm_x86_setup() writes at its tables address (GDT with kernel and
 * user segments and a 64-bit TSS in the first page, then PML4, PDPT and four
 * page directories identity-mapping 4 GiB with 2 MiB pages, accessed and dirty
 * bits preset), loaded into a vCPU at CPL 0 or 3 with raw ioctls; and the
 * raw set-up they share (CPUID table, VM, RAM slot and vCPU). Include
 * bench_util.h first. */
#ifndef LIBVMM_BENCH_RAW_X86_H
#define LIBVMM_BENCH_RAW_X86_H

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

/* A failed raw ioctl ends the benchmark. */
static inline void raw_fail(const char *what)
{
    die("raw KVM: %s: %s", what, strerror(errno));
}

/* KVM_GET_SUPPORTED_CPUID into a new table (asked with room for 64 entries,
 * then twice as many while KVM answers E2BIG), made fit for vCPU 0: APIC ID
 * 0, as libvmm sets it. */
static inline struct kvm_cpuid2 *raw_supported_cpuid(int kvm_fd)
{
    for (unsigned int cap = 64; cap <= 4096; cap *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof *c + cap * sizeof(struct kvm_cpuid_entry2));
        if (!c)
            die("out of memory");
        c->nent = cap;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
            for (unsigned int i = 0; i < c->nent; i++) {
                struct kvm_cpuid_entry2 *e = &c->entries[i];
                if (e->function == 1)
                    e->ebx &= 0x00ffffffu;
                if (e->function == 0xb || e->function == 0x1f)
                    e->edx = 0;
            }
            return c;
        }
        int e = errno;
        free(c);
        if (e != E2BIG) {
            errno = e;
            raw_fail("KVM_GET_SUPPORTED_CPUID");
        }
    }
    die("raw KVM: KVM_GET_SUPPORTED_CPUID: table too large");
    return NULL;
}

/* A VM (with the real-mode TSS area VMX needs where KVM has
 * KVM_CAP_SET_TSS_ADDR, as libvmm sets it); *run_size: a vCPU's run area. */
static inline int raw_vm_create(int kvm_fd, bool tss_addr, size_t *run_size)
{
    int vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm_fd < 0)
        raw_fail("KVM_CREATE_VM");
    int sz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (sz < (int)sizeof(struct kvm_run))
        raw_fail("KVM_GET_VCPU_MMAP_SIZE");
    *run_size = (size_t)sz;
    if (tss_addr && ioctl(vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul) < 0)
        raw_fail("KVM_SET_TSS_ADDR");
    return vm_fd;
}

/* size bytes of mem at guest address 0 (slot 0, with flags KVM_MEM_*), and
 * vCPU 0 with its run area (*run) and the CPUID table: its descriptor. */
static inline int raw_vcpu_create(int vm_fd, void *mem, uint64_t size, uint32_t flags,
                                  const struct kvm_cpuid2 *cpuid, size_t run_size,
                                  struct kvm_run **run)
{
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .flags = flags,
        .guest_phys_addr = 0,
        .memory_size = size,
        .userspace_addr = (uintptr_t)mem,
    };
    if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        raw_fail("KVM_SET_USER_MEMORY_REGION");
    int fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0ul);
    if (fd < 0)
        raw_fail("KVM_CREATE_VCPU");
    *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (*run == MAP_FAILED)
        raw_fail("mmap kvm_run");
    if (ioctl(fd, KVM_SET_CPUID2, cpuid) < 0)
        raw_fail("KVM_SET_CPUID2");
    return fd;
}

static inline struct kvm_segment raw_seg(uint16_t sel, uint8_t type, uint8_t dpl, int l, int db)
{
    struct kvm_segment s;
    memset(&s, 0, sizeof s);
    s.limit = 0xffffffffu;
    s.selector = sel;
    s.type = type;
    s.present = 1;
    s.dpl = dpl;
    s.db = (uint8_t)db;
    s.s = 1;
    s.l = (uint8_t)l;
    s.g = 1;
    return s;
}

static inline uint64_t raw_gdt_entry(unsigned int type, unsigned int dpl, int l, int db)
{
    return 0xffffull | (0xfull << 48) | ((uint64_t)(type | 0x10) << 40) | ((uint64_t)dpl << 45) |
           (1ull << 47) | ((uint64_t)l << 53) | ((uint64_t)db << 54) | (1ull << 55);
}

/* Write the tables into mem + tables (0x7000 bytes; mem is guest-physical 0)
 * and put the vCPU in long mode at cpl (0 or 3), RIP rip, RSP rsp. Returns
 * NULL, or the name of the ioctl that failed (errno set). */
static inline const char *raw_setup_long(uint8_t *mem, uint64_t tables, int vcpu_fd,
                                         unsigned int cpl, uint64_t rip, uint64_t rsp)
{
    uint8_t *t = mem + tables;
    memset(t, 0, 0x7000);
    uint64_t gdt[10] = {0,
                        raw_gdt_entry(0xb, 0, 1, 0),
                        raw_gdt_entry(0xb, 0, 0, 1),
                        raw_gdt_entry(0x3, 0, 0, 1),
                        raw_gdt_entry(0x3, 3, 0, 1),
                        raw_gdt_entry(0xb, 3, 1, 0),
                        raw_gdt_entry(0xb, 3, 0, 1)};
    uint64_t tss = tables + 0x100;
    gdt[7] =
        103 | ((tss & 0xffffff) << 16) | (0xbull << 40) | (1ull << 47) | ((tss >> 24 & 0xff) << 56);
    gdt[8] = tss >> 32;
    memcpy(t, gdt, sizeof gdt);
    uint16_t iopb = 104;
    memcpy(t + 0x100 + 102, &iopb, 2);
    uint64_t user = cpl ? 4 : 0, a = 0x20, d = 0x40;
    uint64_t *pml4 = (uint64_t *)(t + 0x1000), *pdpt = (uint64_t *)(t + 0x2000);
    pml4[0] = (tables + 0x2000) | 3 | user | a;
    for (unsigned int i = 0; i < 4; i++) {
        pdpt[i] = (tables + 0x3000 + i * 0x1000) | 3 | user | a;
        uint64_t *pd = (uint64_t *)(t + 0x3000 + i * 0x1000);
        for (unsigned int j = 0; j < 512; j++)
            pd[j] = ((uint64_t)i << 30) + ((uint64_t)j << 21) + (0x83 | user | a | d);
    }

    struct kvm_sregs s;
    if (ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0)
        return "KVM_GET_SREGS";
    uint8_t dpl = cpl ? 3 : 0;
    s.cs = raw_seg((uint16_t)((cpl ? 0x28 : 0x08) | dpl), 0xb, dpl, 1, 0);
    s.ds = s.es = s.fs = s.gs = s.ss =
        raw_seg((uint16_t)((cpl ? 0x20 : 0x18) | dpl), 0x3, dpl, 0, 1);
    s.gdt.base = tables;
    s.gdt.limit = 9 * 8 - 1;
    s.idt.base = 0;
    s.idt.limit = 0;
    memset(&s.tr, 0, sizeof s.tr);
    s.tr.base = tss;
    s.tr.limit = 103;
    s.tr.selector = 0x38;
    s.tr.type = 0xb;
    s.tr.present = 1;
    memset(&s.ldt, 0, sizeof s.ldt);
    s.ldt.type = 2;
    s.ldt.present = 1;
    s.ldt.unusable = 1;
    s.cr0 = 0x80010033ull; /* PG WP NE ET MP PE */
    s.cr4 = 0x620ull;      /* OSXMMEXCPT OSFXSR PAE */
    s.cr3 = tables + 0x1000;
    s.efer = 0x501ull; /* LMA LME SCE */
    if (ioctl(vcpu_fd, KVM_SET_SREGS, &s) < 0)
        return "KVM_SET_SREGS";
    struct kvm_regs g;
    memset(&g, 0, sizeof g);
    g.rip = rip;
    g.rsp = rsp;
    g.rflags = 2;
    if (ioctl(vcpu_fd, KVM_SET_REGS, &g) < 0)
        return "KVM_SET_REGS";
    return NULL;
}

#endif
