/* SPDX-License-Identifier: MIT */
/* Guest memory layout shared by the fuzz target and the hosts that run it. */
#ifndef LIBVMM_EXAMPLE_FUZZ_TARGET_H
#define LIBVMM_EXAMPLE_FUZZ_TARGET_H

#define RAM_SIZE        0x200000u /* 2 MiB at guest-physical 0 */
#define STACK_TOP       0x9000u   /* below the x86 tables at 0x9000 */
#define COVERAGE_ADDR   0x40000u  /* target.ld places __sancov_cntrs here */
#define COVERAGE_SIZE   0x1000u
#define INPUT_ADDR      0x100000u /* 64-bit length, then the bytes */
#define INPUT_MAX       0x1000u
#define DEBUG_EXIT_ADDR 0xd0000000u /* a debug-exit device's MMIO register */

#endif
