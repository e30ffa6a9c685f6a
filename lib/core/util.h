/* SPDX-License-Identifier: MIT */
/* Small internal utilities every layer may use: errors, logging, rate
 * limits, range arithmetic, versioned options and strict JSON checks. They
 * know nothing of VMs, devices or KVM. (Never installed.) */
#ifndef LIBVMM_UTIL_H
#define LIBVMM_UTIL_H

#include <libvmm/vmm.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMM__HIDDEN       __attribute__((visibility("hidden")))
#define VMM__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- errors and logging (error.c, log.c) ---- */
/* Record an error for vmm_error_last() and return code. */
VMM__HIDDEN int vmm__err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The calling thread's last error, kept aside while other libvmm calls run:
 * to tell whether a callback recorded its own error, or to keep a caller's
 * error across best-effort work or clean-up. */
struct vmm__err_saved {
    int code;
    char message[512];
};
VMM__HIDDEN void vmm__err_save(struct vmm__err_saved *s);
/* True if the last error differs from the saved one. */
VMM__HIDDEN bool vmm__err_changed(const struct vmm__err_saved *s);
/* Make the saved error the last error again (code 0: "no error"). */
VMM__HIDDEN void vmm__err_restore(const struct vmm__err_saved *s);
/* Prefix the current thread's last error message with a context string. */
VMM__HIDDEN void vmm__err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
VMM__HIDDEN void vmm__log(vmm_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
VMM__HIDDEN void vmm__logv(vmm_log_level level, const char *component, const char *fmt, va_list ap);
VMM__HIDDEN bool vmm__log_enabled(vmm_log_level level);
VMM__HIDDEN uint64_t vmm__now_ns(void);

/* A per-object rate limit for guest-triggerable messages: a burst per second. */
struct vmm__ratelimit {
    uint64_t window_start;
    unsigned int in_window;
    uint64_t suppressed;
};
/* True if a message may be emitted now; *suppressed receives the count dropped before it. */
VMM__HIDDEN bool vmm__ratelimit_ok(struct vmm__ratelimit *rl, uint64_t *suppressed);

/* Whether [a, a+alen) and [b, b+blen) share a byte; lengths > 0, and each
 * range may end at 2^64 - 1 (inclusive ends, so nothing wraps). */
static inline bool vmm__ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a <= b + blen - 1 && b <= a + alen - 1;
}

/* Versioned options: fill the caller's struct of the given version with defaults. */
VMM__HIDDEN int vmm__options_init(void *opts, unsigned int version, const void *defaults,
                                  const size_t *sizes_by_version, unsigned int max_version,
                                  const char *what);
/* Versioned options: copy the caller's struct (of its version's size) over defaults. */
VMM__HIDDEN int vmm__options_copy(void *dst, size_t dst_size, const void *src,
                                  const size_t *sizes_by_version, unsigned int max_version,
                                  const char *what);

/* ---- strict JSON checks json-c does not make (json_check.c) ---- */
#define VMM__JSON_PATH_MAX 256
/* 0 if json is well-formed UTF-8 (RFC 3629); else -1 with the offset in *bad. */
VMM__HIDDEN int vmm__json_check_utf8(const char *json, size_t len, size_t *bad);
/* 0 if the JSON text (already accepted by json-c) repeats no key in any object,
 * has no NUL in a key, quotes strings with double quotes and has no integer
 * beyond 64 bits; else -1 with the JSON path ("" for the top level) and the
 * problem. */
VMM__HIDDEN int vmm__json_check(const char *json, size_t len, char *path, size_t pathlen, char *why,
                                size_t whylen);

/* ---- numbers written as text (config.c) ---- */
/* "123", "0x1f000", "64M" (K/M/G/T: powers of 1024): 0, -1 not a number, -2 overflow. */
VMM__HIDDEN int vmm__parse_u64_text(const char *s, uint64_t *out);

#endif
