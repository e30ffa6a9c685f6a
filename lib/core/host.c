/* SPDX-License-Identifier: MIT */
/* vmm_host_info_get(): what the host's KVM offers. */
#include <unistd.h>

#include "internal.h"

int vmm_host_info_get(vmm_host_info *info)
{
    if (!info)
        return vmm__err(VMM_EINVAL, "vmm_host_info_get: info is NULL");
    int fd, rc = vmm__hv_open(&fd);
    if (rc < 0)
        return rc;
    rc = vmm__hv_host_info(fd, info);
    close(fd);
    return rc;
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
