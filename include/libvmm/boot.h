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
 * Any thread; meant before the VM runs (it writes guest memory as vmm_mem_write() does).
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
 * Any thread; meant before the VM runs (it writes guest memory as vmm_mem_write() does).
 */
VMM_EXTERN int vmm_boot_elf(vmm_vm *vm, const char *path, uint64_t *entry);

/** Current version of vmm_linux_boot. */
#define VMM_LINUX_BOOT_VERSION 1

/** What vmm_boot_linux() gives the guest as CPUID. */
typedef enum vmm_linux_cpuid {
    /** KVM's supported set, minus the features the host cannot run at CPL 0
     *  when it is a PVM host (see VMM_LINUX_CPUID_SAFE); the default. */
    VMM_LINUX_CPUID_AUTO = 0,
    /** Everything KVM supports (vmm_x86_set_cpuid() with NULL). */
    VMM_LINUX_CPUID_HOST = 1,
    /** KVM's set without CMPXCHG16B and XSAVE (and what depends on XSAVE:
     *  OSXSAVE, AVX and later vector extensions), whose instructions KVM on PVM
     *  cannot emulate in a guest kernel; and "noxsave" appended to the command
     *  line, because a PVM host shows the guest its own XSAVE bit whatever the
     *  CPUID table says (measured: the bit cleared in KVM_SET_CPUID2 still
     *  reads as set in the guest, while CMPXCHG16B's is hidden). */
    VMM_LINUX_CPUID_SAFE = 2
} vmm_linux_cpuid;

/** vmm_linux_boot.flags: do not append virtio_mmio.device= for the VM's virtio devices. */
#define VMM_LINUX_NO_VIRTIO_CMDLINE 0x1u
/** vmm_linux_boot.flags: write no MP table (a single-vCPU guest then runs without an IOAPIC
 *  description; Linux falls back to the PIC). */
#define VMM_LINUX_NO_MPTABLE 0x2u

/**
 * What to boot. Fill with vmm_linux_boot_init() (or VMM_LINUX_BOOT_INIT), then
 * set the fields.
 */
typedef struct vmm_linux_boot {
    unsigned int version; /**< VMM_LINUX_BOOT_VERSION */
    const char *kernel;   /**< bzImage (boot protocol 2.12 or later, 64-bit entry) or vmlinux ELF */
    const char *initrd;   /**< initramfs or initrd image, or NULL */
    const char *cmdline;  /**< kernel command line, or NULL for none */
    unsigned int flags;   /**< VMM_LINUX_* flags */
    vmm_linux_cpuid cpuid; /**< default VMM_LINUX_CPUID_AUTO */
} vmm_linux_boot;

#define VMM_LINUX_BOOT_INIT                                                                        \
    {                                                                                              \
        VMM_LINUX_BOOT_VERSION, NULL, NULL, NULL, 0, VMM_LINUX_CPUID_AUTO                          \
    }

/**
 * Fill b with the defaults of the given version.
 * @return 0; VMM_EINVAL (NULL); VMM_EVERSION.
 * Thread-safe: it touches no shared state.
 */
VMM_EXTERN int vmm_linux_boot_init(vmm_linux_boot *b, unsigned int version);

/**
 * Load a Linux kernel and set the VM up to boot it through the x86-64 boot
 * protocol's 64-bit entry (Documentation/arch/x86/boot.rst).
 *
 * The VM must have the in-kernel irqchip (VMM_VM_IRQCHIP; VMM_VM_PIT is
 * advised), all its vCPUs created, and RAM from guest-physical 0 up past the
 * kernel (the image is loaded at 16 MiB, or the bzImage's preferred address).
 * RAM must run from 0 to at least 1 MiB in one region. Guest memory is
 * written as follows:
 * - 0x7000: boot_params (the "zero page"), with the bzImage's setup header (or
 *   one built for a vmlinux), type_of_loader 0xff, the command line and initrd
 *   pointers, and an e820 map of the VM's RAM: [0, 0x9fc00) and every RAM
 *   region from 1 MiB up are usable; [0x9fc00, 0xa0000) is reserved (where a
 *   BIOS keeps its data), [0xa0000, 1 MiB) is left out;
 * - 0x9000-0xffff: a GDT (0x10 64-bit code, 0x18 data) and identity page
 *   tables for the low 4 GiB (2 MiB pages);
 * - 0x20000: the command line: b->cmdline, " noxsave" in the safe CPUID
 *   mode (see VMM_LINUX_CPUID_SAFE), then (unless
 *   VMM_LINUX_NO_VIRTIO_CMDLINE) ` virtio_mmio.device=512@<base>:<irq>` for
 *   each virtio device that has an interrupt line; at most the kernel's
 *   cmdline_size (2048 for a vmlinux);
 * - 0xf0000: the MP table (Intel MP 1.4), where Linux scans the BIOS area: one processor entry per
 * vCPU (LAPIC ID = index), the ISA bus, the IOAPIC (ID = number of vCPUs, at 0xfec00000), ISA IRQs
 * 0-15 and GSIs 16-23 on its pins (IRQ 0 on pin 2, as KVM routes the PIT), ExtINT and NMI on
 * LINT0/LINT1;
 * - the initrd at the top of the RAM below min(4 GiB, the kernel's
 *   initrd_addr_max), page aligned, above the kernel.
 * vCPU 0 is put at the entry (bzImage: load address + 0x200; vmlinux: its
 * e_entry, a physical address) in 64-bit mode with CS 0x10, DS/ES/SS 0x18,
 * interrupts off, RSI = 0x7000 and RSP = 0x8ff0; the other vCPUs stay in
 * their reset state until the kernel starts them (INIT/SIPI). Every vCPU
 * gets the CPUID b->cpuid asks for, with its APIC ID.
 *
 * A stock distribution kernel may build virtio-mmio as a module without
 * command-line device support (Debian's does): it then finds no virtio
 * devices, and the console must be the serial device (console=ttyS0).
 *
 * @return 0; VMM_EINVAL (NULL, bad version; not a bzImage or ELF kernel; a
 *         bzImage older than protocol 2.12 or without the 64-bit entry; a
 *         command line longer than the kernel accepts), VMM_ESTATE (no
 *         irqchip, no vCPU, a vCPU running), VMM_ENOENT/VMM_EIO (files),
 *         VMM_EFAULT (the kernel, initrd or tables do not fit in RAM); each with
 *         a message naming the file and the rule.
 * Any thread, while no vCPU of the VM runs (VMM_EBUSY otherwise).
 */
VMM_EXTERN int vmm_boot_linux(vmm_vm *vm, const vmm_linux_boot *b);

VMM_END_DECLS

#endif
