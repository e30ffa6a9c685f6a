/* SPDX-License-Identifier: MIT */
/* x86-64 long mode built by hand for the benchmarks' raw-KVM references: the
 * layout vmm_x86_setup() writes at its tables address (GDT with kernel and
 * user segments and a 64-bit TSS in the first page, then PML4, PDPT and four
 * page directories identity-mapping 4 GiB with 2 MiB pages, accessed and dirty
 * bits preset), loaded into a vCPU at CPL 0 or 3 with raw ioctls. Include
 * bench_util.h first. */
#ifndef LIBVMM_BENCH_RAW_X86_H
#define LIBVMM_BENCH_RAW_X86_H

#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

/* A failed raw ioctl ends the benchmark. */
static inline void raw_fail(const char *what)
{
    die("raw KVM: %s: %s", what, strerror(errno));
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
