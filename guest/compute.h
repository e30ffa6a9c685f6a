/* SPDX-License-Identifier: MIT */
/* The compute kernel run by the CPL3 guest and natively by the benchmark. */
#ifndef LIBVMM_GUEST_COMPUTE_H
#define LIBVMM_GUEST_COMPUTE_H
#include <stdint.h>
uint64_t vmm_guest_compute(uint64_t n);
#endif
