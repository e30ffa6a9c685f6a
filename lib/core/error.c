/* SPDX-License-Identifier: MIT */
/* Thread-local last error, error strings, version and options versioning. */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static _Thread_local vmm_error last_error = {0, "no error"};
static _Thread_local char last_message[512];

int vmm__err(int code, const char *fmt, ...)
{
    /* Format aside first: an argument may be the current message itself. */
    char tmp[sizeof last_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(last_message, tmp, sizeof tmp);
    last_error.code = code;
    last_error.message = last_message;
    return code;
}

void vmm__err_prefix(const char *fmt, ...)
{
    char prefix[160], old[sizeof last_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(old, sizeof old, "%s", last_error.message);
    int n = snprintf(last_message, sizeof last_message, "%s: ", prefix);
    if (n > 0 && (size_t)n < sizeof last_message)
        memcpy(last_message + n, old, strnlen(old, sizeof last_message - (size_t)n - 1) + 1);
    last_message[sizeof last_message - 1] = 0;
    last_error.message = last_message;
}

void vmm__err_save(struct vmm__err_saved *s)
{
    s->code = last_error.code;
    snprintf(s->message, sizeof s->message, "%s", last_error.message);
}

bool vmm__err_changed(const struct vmm__err_saved *s)
{
    return last_error.code != s->code || strcmp(last_error.message, s->message) != 0;
}

void vmm__err_restore(const struct vmm__err_saved *s)
{
    if (s->code)
        vmm__err(s->code, "%s", s->message);
    else
        vmm_error_clear();
}

const vmm_error *vmm_error_last(void)
{
    return &last_error;
}

void vmm_error_clear(void)
{
    last_error.code = 0;
    last_error.message = "no error";
}

const char *vmm_strerror(int code)
{
    switch (code) {
    case VMM_OK:
        return "success";
    case VMM_EPERM:
        return "operation not permitted";
    case VMM_ENOENT:
        return "not found";
    case VMM_EIO:
        return "I/O error";
    case VMM_E2BIG:
        return "too many items";
    case VMM_EAGAIN:
        return "try again later";
    case VMM_ENOMEM:
        return "out of memory";
    case VMM_EFAULT:
        return "bad guest address";
    case VMM_EBUSY:
        return "busy";
    case VMM_EEXIST:
        return "already exists or overlaps";
    case VMM_ENODEV:
        return "KVM not available";
    case VMM_EINVAL:
        return "invalid argument";
    case VMM_ERANGE:
        return "out of range";
    case VMM_ENOSYS:
        return "not implemented";
    case VMM_EOVERFLOW:
        return "value overflows";
    case VMM_ENOTSUP:
        return "not supported by the host";
    case VMM_ETIMEDOUT:
        return "timed out";
    case VMM_EVERSION:
        return "unknown struct version";
    case VMM_EKVM:
        return "KVM error";
    case VMM_ECONFIG:
        return "bad configuration";
    case VMM_ESTATE:
        return "wrong state";
    default:
        return "unknown error";
    }
}

const char *vmm_version(int *major, int *minor, int *patch)
{
    if (major)
        *major = VMM_VERSION_MAJOR;
    if (minor)
        *minor = VMM_VERSION_MINOR;
    if (patch)
        *patch = VMM_VERSION_PATCH;
    return VMM_VERSION_STRING;
}

int vmm__options_init(void *opts, unsigned int version, const void *defaults,
                      const size_t *sizes_by_version, unsigned int max_version, const char *what)
{
    if (!opts)
        return vmm__err(VMM_EINVAL, "%s: opts is NULL", what);
    if (version == 0 || version > max_version)
        return vmm__err(VMM_EVERSION, "%s: version %u unknown (this library knows 1..%u)", what,
                        version, max_version);
    memcpy(opts, defaults, sizes_by_version[version]);
    memcpy(opts, &version, sizeof version); /* every options struct starts with it */
    return 0;
}

int vmm__options_copy(void *dst, size_t dst_size, const void *src, const size_t *sizes_by_version,
                      unsigned int max_version, const char *what)
{
    unsigned int version;
    memcpy(&version, src, sizeof version); /* every options struct starts with it */
    if (version == 0 || version > max_version)
        return vmm__err(VMM_EVERSION, "%s: version %u unknown (this library knows 1..%u)", what,
                        version, max_version);
    size_t n = sizes_by_version[version];
    if (n > dst_size)
        n = dst_size;
    memcpy(dst, src, n);
    return 0;
}
