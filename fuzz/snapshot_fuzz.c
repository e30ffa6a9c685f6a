/* SPDX-License-Identifier: MIT */
/* libFuzzer target: vmm_snapshot_load_buffer() over arbitrary bytes (see
 * fuzz/CMakeLists.txt). Seeds in fuzz/corpus/snapshot/ come from
 * `test_snapshot_file --write-seeds DIR`. Almost every mutation breaks the
 * checksum, which would stop the loader at its first check, so each input is
 * loaded twice: as it is, and with its checksum made right, which takes the
 * mutation into the structural checks behind it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libvmm/vmm.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* The library's CRC-32C (lib/snapshot/snapshot_internal.h; hidden, but in the
 * static library). */
uint32_t vmm__crc32c(uint32_t crc, const void *buf, size_t len);

static void load(const uint8_t *data, size_t size)
{
    vmm_snapshot *s = NULL;
    int rc = vmm_snapshot_load_buffer(data, size, &s);
    /* snapshot.h: 0, VMM_EINVAL or VMM_EVERSION; out of memory is the only
     * other excuse. A refusal leaves nothing behind. */
    if (rc == 0) {
        if (!s || vmm_snapshot_memory_size(s) == 0)
            abort();
        vmm_snapshot_free(s);
    } else if ((rc != VMM_EINVAL && rc != VMM_EVERSION && rc != VMM_ENOMEM) || s) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load(data, size);
    if (size < 72)
        return 0;
    uint8_t *copy = malloc(size); /* exactly size bytes: ASan sees any overread */
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    uint32_t c = vmm__crc32c(0, copy, size - 8);
    for (int i = 0; i < 4; i++)
        copy[size - 8 + i] = (uint8_t)(c >> (8 * i));
    load(copy, size);
    free(copy);
    return 0;
}
