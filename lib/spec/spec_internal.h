/* SPDX-License-Identifier: MIT */
/* Internal interface of the JSON spec layer. */
#ifndef LIBVMM_SPEC_INTERNAL_H
#define LIBVMM_SPEC_INTERNAL_H

#include "../core/internal.h"

#define VMM__SPEC_PATH_MAX VMM__JSON_PATH_MAX

#endif
