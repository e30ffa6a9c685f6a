/* SPDX-License-Identifier: MIT */
/** @file sandbox_guest.h  For programs running in a libvmm sandbox: call the
 *  host functions the embedder registered (vmm_sandbox_register()).
 *
 * This header is for guest code: it needs no library, only an x86-64
 * compiler (e.g. musl-gcc), and can be copied into a guest's source tree.
 *
 * The hypercall ABI (version 1): a `syscall` instruction with
 *   RAX = VMM_HOSTCALL_NR,
 *   RDI = address of the function's name, NUL-terminated, at most 63 characters,
 *   RSI = address of the input buffer,  RDX = its length in bytes,
 *   R10 = address of the output buffer, R8  = its capacity in bytes.
 * The result in RAX is the number of bytes the function wrote to the output
 * buffer, or a negative errno: -ENOENT (no such function), -EFAULT (a buffer
 * outside the program's memory), -E2BIG (a buffer over the host's
 * max_call_bytes), -EINVAL (a name without a NUL in 64 bytes), -EIO (the
 * function claimed to write more than out_cap bytes), or what the function
 * itself returned. RCX and R11 are clobbered, as for any system
 * call; other registers are preserved.
 */
#ifndef LIBVMM_SANDBOX_GUEST_H
#define LIBVMM_SANDBOX_GUEST_H

/** The system-call number of a host-function call (outside Linux's numbers). */
#define VMM_HOSTCALL_NR 0x564d4d01L

/**
 * Call the host function `name` with in_len bytes of input; it writes at most
 * out_cap bytes to out.
 * @return the number of bytes written to out, or a negative errno.
 */
static inline long vmm_hostcall(const char *name, const void *in, unsigned long in_len, void *out,
                                unsigned long out_cap)
{
    long ret;
    register unsigned long r10 __asm__("r10") = (unsigned long)out;
    register unsigned long r8 __asm__("r8") = out_cap;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(VMM_HOSTCALL_NR), "D"(name), "S"(in), "d"(in_len), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}

#endif
