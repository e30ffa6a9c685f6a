/* SPDX-License-Identifier: MIT */
/* Flat binary loader: a file copied verbatim into guest RAM. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/internal.h"

int vmm_boot_flat(vmm_vm *vm, const char *path, uint64_t gpa, uint64_t *size)
{
    if (!vm || !path)
        return vmm__err(VMM_EINVAL, "vmm_boot_flat: NULL argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return vmm__err(e == ENOENT ? VMM_ENOENT : VMM_EIO, "%s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vmm__err(VMM_EIO, "%s: not a regular file", path);
    }
    uint64_t len = (uint64_t)st.st_size;
    void *host;
    /* The image must lie inside one RAM region; check before reading anything. */
    int rc = vmm_mem_host_ptr(vm, gpa, len ? len : 1, &host);
    if (rc < 0) {
        close(fd);
        return vmm__err(VMM_EFAULT, "%s: %llu bytes at 0x%llx do not fit in guest RAM", path,
                        (unsigned long long)len, (unsigned long long)gpa);
    }
    uint64_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, (uint8_t *)host + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            return vmm__err(VMM_EIO, "%s: read: %s", path, n < 0 ? strerror(e) : "file shrank");
        }
        done += (uint64_t)n;
    }
    close(fd);
    if (size)
        *size = len;
    return 0;
}
