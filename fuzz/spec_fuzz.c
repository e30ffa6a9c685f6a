/* SPDX-License-Identifier: MIT */
/* libFuzzer target: vmm_spec_check() over arbitrary bytes (fuzz/README in
 * fuzz/CMakeLists.txt). Relative paths resolve against the current directory;
 * scripts/test.sh runs it from tests/spec/bad so the seeds' files exist. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <libvmm/vmm.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rc = vmm_spec_check((const char *)data, size, NULL);
    /* spec.h: 0 or VMM_ECONFIG; out of memory is the only other excuse. */
    if (rc != 0 && rc != VMM_ECONFIG && rc != VMM_ENOMEM)
        abort();
    return 0;
}
