/* SPDX-License-Identifier: MIT */
/** @file vmm.h  libvmm, a hypervisor as a library over Linux KVM: include this one header. */
#ifndef LIBVMM_VMM_H
#define LIBVMM_VMM_H

#include "common.h"
#include "error.h"
#include "log.h"
#include "host.h"
#include "vcpu.h"
#include "vm.h"
#include "memory.h"
#include "x86.h"
#include "device.h"
#include "serial.h"
#include "virtio.h"
#include "boot.h"
#include "snapshot.h"
#include "fuzz.h"
#include "sandbox.h"
#include "spec.h"

#endif
