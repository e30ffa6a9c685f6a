/* SPDX-License-Identifier: MIT */
/* What a Linux boot builds without a VM, testable on its own: the checks of
 * a bzImage's setup header, the e820 map and the MP table (vCPUs, IOAPIC,
 * the ISA interrupts). */
#include <stdio.h>
#include <string.h>

#include "linux.h"

#define XLF_KERNEL_64     0x1
#define BZIMAGE_MAX_SETUP (64u * 512) /* setup_sects is a byte: at most 256, in practice < 64 */

int vmm__bzimage_parse(const uint8_t *h, size_t len, uint64_t file_size, struct vmm__bzimage *out,
                       const char **why)
{
    if (len < 0x400) {
        *why = "shorter than a setup header";
        return VMM_EINVAL;
    }
    if (vmm__lx_get16(h, BP_BOOT_FLAG) != 0xaa55 || memcmp(h + BP_HEADER, "HdrS", 4) != 0) {
        *why = "no boot sector signature and \"HdrS\" setup header";
        return VMM_EINVAL;
    }
    out->version = vmm__lx_get16(h, BP_VERSION);
    if (out->version < 0x20c) {
        *why = "boot protocol older than 2.12 (no 64-bit entry)";
        return VMM_EINVAL;
    }
    if (!(vmm__lx_get16(h, BP_XLOADFLAGS) & XLF_KERNEL_64)) {
        *why = "the kernel has no 64-bit entry (XLF_KERNEL_64 clear)";
        return VMM_EINVAL;
    }
    if (!(h[BP_LOADFLAGS] & LOADED_HIGH)) {
        *why = "not a bzImage (LOADED_HIGH clear)";
        return VMM_EINVAL;
    }
    unsigned int sects = h[BP_SETUP_SECTS] ? h[BP_SETUP_SECTS] : 4;
    out->setup_size = (sects + 1) * 512;
    if (out->setup_size > BZIMAGE_MAX_SETUP || out->setup_size >= file_size) {
        *why = "setup_sects leaves no protected-mode kernel in the file";
        return VMM_EINVAL;
    }
    /* The header runs from 0x1f1 to the end of the jump's target: 0x202 + the
     * byte at 0x201 (boot.rst). */
    out->hdr_len = (uint32_t)(BP_JUMP + 2 + h[BP_JUMP + 1] - BP_HDR);
    if (BP_HDR + out->hdr_len > len || BP_HDR + out->hdr_len > 0x290) {
        *why = "setup header length out of range";
        return VMM_EINVAL;
    }
    if (BP_HDR + out->hdr_len < BP_INIT_SIZE + 4) {
        *why = "setup header too short for protocol 2.12";
        return VMM_EINVAL;
    }
    uint32_t align = vmm__lx_get32(h, BP_KERNEL_ALIGNMENT);
    uint64_t pref = vmm__lx_get64(h, BP_PREF_ADDRESS);
    out->init_size = vmm__lx_get32(h, BP_INIT_SIZE);
    if (align == 0 || (align & (align - 1)) || align > (1u << 30)) {
        *why = "kernel_alignment is not a power of two up to 1 GiB";
        return VMM_EINVAL;
    }
    /* A relocatable kernel goes to 16 MiB (aligned up), one that is not to
     * its preferred address. */
    if (h[BP_RELOCATABLE])
        out->load = (VMM__LINUX_LOAD + align - 1) & ~(uint64_t)(align - 1);
    else
        out->load = pref;
    if (out->load < VMM__LINUX_HIGH || out->load >= (1ull << 32) || (out->load & 0xfff)) {
        *why = "preferred load address out of range";
        return VMM_EINVAL;
    }
    uint64_t body = file_size - out->setup_size;
    if (out->init_size < body)
        out->init_size = body;
    if (out->init_size > (1ull << 30)) {
        *why = "init_size larger than 1 GiB";
        return VMM_EINVAL;
    }
    out->initrd_max = vmm__lx_get32(h, BP_INITRD_ADDR_MAX);
    uint32_t cl = vmm__lx_get32(h, BP_CMDLINE_SIZE);
    out->cmdline_max = cl > 0 && cl < 65536 ? cl : 255;
    return 0;
}

int vmm__linux_e820(const uint64_t (*ram)[2], size_t nram, struct vmm__e820 *out, size_t cap)
{
    size_t n = 0;
    bool low = false;
    for (size_t i = 0; i < nram; i++) {
        uint64_t a = ram[i][0], end = ram[i][0] + ram[i][1];
        if (a == 0 && end >= VMM__LINUX_MPTABLE_END)
            low = true;
        if (a < VMM__LINUX_EBDA) {
            if (n == cap)
                return VMM_E2BIG;
            uint64_t e = end < VMM__LINUX_EBDA ? end : VMM__LINUX_EBDA;
            out[n++] = (struct vmm__e820){a, e - a, VMM__E820_RAM};
        }
        if (end > VMM__LINUX_HIGH) {
            uint64_t s = a > VMM__LINUX_HIGH ? a : VMM__LINUX_HIGH;
            /* Merge with the previous entry when they touch. */
            if (n && out[n - 1].type == VMM__E820_RAM && out[n - 1].addr + out[n - 1].size == s &&
                out[n - 1].addr >= VMM__LINUX_HIGH) {
                out[n - 1].size += end - s;
                continue;
            }
            if (n == cap)
                return VMM_E2BIG;
            out[n++] = (struct vmm__e820){s, end - s, VMM__E820_RAM};
        }
    }
    if (!low)
        return VMM_EFAULT;
    /* The reserved EBDA slot goes after the low entry: keep the map sorted. */
    if (n == cap)
        return VMM_E2BIG;
    size_t at = 0;
    while (at < n && out[at].addr < VMM__LINUX_EBDA)
        at++;
    memmove(&out[at + 1], &out[at], (n - at) * sizeof *out);
    out[at] = (struct vmm__e820){VMM__LINUX_EBDA, VMM__LINUX_EBDA_END - VMM__LINUX_EBDA,
                                 VMM__E820_RESERVED};
    return (int)(n + 1);
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s = (uint8_t)(s + p[i]);
    return (uint8_t)-s;
}

#define MP_GSIS 24

int vmm__linux_mptable(uint8_t *buf, size_t cap, uint32_t at, unsigned int ncpus,
                       uint32_t cpu_signature, uint32_t cpu_features)
{
    size_t need = 16 + 44 + ncpus * 20 + 8 + 8 + MP_GSIS * 8 + 2 * 8;
    if (need > cap || ncpus == 0 || ncpus > 254)
        return VMM_E2BIG;
    memset(buf, 0, need);
    /* Floating pointer structure. */
    memcpy(buf, "_MP_", 4);
    vmm__lx_put32(buf, 4, at + 16);
    buf[8] = 1; /* length in 16-byte units */
    buf[9] = 4; /* MP 1.4 */
    buf[10] = checksum(buf, 16);
    /* Configuration table header. */
    uint8_t *t = buf + 16;
    memcpy(t, "PCMP", 4);
    t[6] = 4;
    memcpy(t + 8, "LIBVMM  ", 8);
    memcpy(t + 16, "KVM GUEST   ", 12);
    vmm__lx_put32(t, 36, VMM__LINUX_LAPIC);
    size_t o = 44;
    unsigned int entries = 0;
    uint8_t ioapic = (uint8_t)ncpus;
    for (unsigned int i = 0; i < ncpus; i++, entries++) {
        t[o] = 0; /* processor */
        t[o + 1] = (uint8_t)i;
        t[o + 2] = 0x14;                 /* LAPIC version */
        t[o + 3] = 1 | (i == 0 ? 2 : 0); /* enabled; the bootstrap processor */
        vmm__lx_put32(t, o + 4, cpu_signature);
        vmm__lx_put32(t, o + 8, cpu_features);
        o += 20;
    }
    t[o] = 1; /* bus 0: ISA */
    memcpy(t + o + 2, "ISA   ", 6);
    o += 8, entries++;
    t[o] = 2; /* the IOAPIC */
    t[o + 1] = ioapic;
    t[o + 2] = 0x11;
    t[o + 3] = 1;
    vmm__lx_put32(t, o + 4, VMM__LINUX_IOAPIC);
    o += 8, entries++;
    for (unsigned int irq = 0; irq < MP_GSIS; irq++, entries++) {
        /* Interrupt assignments: INT, conforming polarity and trigger, from
         * ISA bus IRQ irq to the IOAPIC pin KVM routes GSI irq to. */
        t[o] = 3;
        t[o + 4] = 0;
        t[o + 5] = (uint8_t)irq;
        t[o + 6] = ioapic;
        t[o + 7] = (uint8_t)(irq == 0 ? 2 : irq);
        o += 8;
    }
    /* Local interrupts: ExtINT on LINT0, NMI on LINT1, every LAPIC. */
    for (unsigned int k = 0; k < 2; k++, entries++) {
        t[o] = 4;
        t[o + 1] = k == 0 ? 3 : 1;
        t[o + 6] = 0xff;
        t[o + 7] = (uint8_t)k;
        o += 8;
    }
    vmm__lx_put16(t, 4, (uint16_t)o);
    vmm__lx_put16(t, 34, (uint16_t)entries);
    t[7] = checksum(t, o);
    return (int)(16 + o);
}
