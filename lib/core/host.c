/* SPDX-License-Identifier: MIT */
/* vmm_host_info_get(): what the host's KVM offers. */
#include "internal.h"

int vmm_host_info_get(vmm_host_info *info)
{
    if (!info)
        return vmm__err(VMM_EINVAL, "vmm_host_info_get: info is NULL");
    return vmm__hv_default()->host_info(info);
}

const char *vmm_paging_name(vmm_paging p)
{
    switch (p) {
    case VMM_PAGING_EPT:
        return "EPT";
    case VMM_PAGING_NPT:
        return "NPT";
    case VMM_PAGING_SHADOW:
        return "shadow";
    default:
        return "unknown";
    }
}
