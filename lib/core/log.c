/* SPDX-License-Identifier: MIT */
/* The log sink and rate limiting; libvmm itself never writes to stdout/stderr. */
#include <stdio.h>
#include <time.h>

#include "internal.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static vmm_log_fn log_fn;
static void *log_opaque;
static atomic_int log_min = VMM_LOG_ERROR + 1; /* nothing enabled until a sink is set */

void vmm_log_set(vmm_log_fn fn, void *opaque, vmm_log_level min_level)
{
    pthread_mutex_lock(&log_lock);
    log_fn = fn;
    log_opaque = opaque;
    atomic_store(&log_min, fn ? (int)min_level : VMM_LOG_ERROR + 1);
    pthread_mutex_unlock(&log_lock);
}

bool vmm__log_enabled(vmm_log_level level)
{
    return (int)level >= atomic_load_explicit(&log_min, memory_order_relaxed);
}

void vmm__logv(vmm_log_level level, const char *component, const char *fmt, va_list ap)
{
    if (!vmm__log_enabled(level))
        return;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    pthread_mutex_lock(&log_lock);
    vmm_log_fn fn = log_fn;
    void *opaque = log_opaque;
    pthread_mutex_unlock(&log_lock);
    if (fn)
        fn(opaque, level, component ? component : "libvmm", msg);
}

void vmm__log(vmm_log_level level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmm__logv(level, component, fmt, ap);
    va_end(ap);
}

uint64_t vmm__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define RATELIMIT_BURST     10
#define RATELIMIT_WINDOW_NS 1000000000ull

bool vmm__ratelimit_ok(struct vmm__ratelimit *rl, uint64_t *suppressed)
{
    uint64_t now = vmm__now_ns();
    if (now - rl->window_start >= RATELIMIT_WINDOW_NS) {
        rl->window_start = now;
        rl->in_window = 0;
    }
    if (rl->in_window >= RATELIMIT_BURST) {
        rl->suppressed++;
        return false;
    }
    rl->in_window++;
    *suppressed = rl->suppressed;
    rl->suppressed = 0;
    return true;
}
