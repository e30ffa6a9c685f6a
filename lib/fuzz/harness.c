/* SPDX-License-Identifier: MIT */
/* The fuzzing harness: reset to a snapshot, write the input, run one vCPU with
 * a time budget, classify how the run ended, copy out the coverage counters. */
#include <stdlib.h>
#include <string.h>

#include "../core/internal.h"

struct vmm_fuzz {
    vmm_vm *vm;
    vmm_vcpu *vcpu;
    vmm_fuzz_options o;
    vmm_snapshot *snap;
    bool dirty; /* the VM ran (or was written) since the last reset */
    uint8_t *cov;
    vmm_fuzz_stats stats;
};

static const size_t fuzz_sizes[] = {0, sizeof(vmm_fuzz_options)};

int vmm_fuzz_options_init(vmm_fuzz_options *opts, unsigned int version)
{
    static const vmm_fuzz_options defaults = VMM_FUZZ_OPTIONS_INIT;
    return vmm__options_init(opts, version, &defaults, fuzz_sizes, VMM_FUZZ_OPTIONS_VERSION,
                             "vmm_fuzz_options_init");
}

/* A region of guest RAM [addr, addr+len), len > 0. */
static int check_region(vmm_vm *vm, const char *what, uint64_t addr, uint64_t len)
{
    if (len == 0 || addr + len < addr)
        return vmm__err(VMM_EINVAL,
                        "vmm_fuzz_create: %s region [0x%llx, +0x%llx) is empty or "
                        "wraps",
                        what, (unsigned long long)addr, (unsigned long long)len);
    /* vmm__mem_find, not vmm_mem_host_ptr: handing out a pointer would count
     * the whole range as written. */
    pthread_rwlock_rdlock(&vm->mem_lock);
    bool ok = vmm__mem_find(vm, addr, len) != NULL;
    pthread_rwlock_unlock(&vm->mem_lock);
    if (!ok)
        return vmm__err(VMM_EINVAL,
                        "vmm_fuzz_create: %s region [0x%llx, +0x%llx) is not inside one RAM "
                        "region",
                        what, (unsigned long long)addr, (unsigned long long)len);
    return 0;
}

int vmm_fuzz_create(vmm_fuzz **out, vmm_vm *vm, const vmm_fuzz_options *opts)
{
    if (out)
        *out = NULL;
    if (!out || !vm || !opts)
        return vmm__err(VMM_EINVAL, "vmm_fuzz_create: NULL argument");
    vmm_fuzz_options o = VMM_FUZZ_OPTIONS_INIT;
    int rc = vmm__options_copy(&o, sizeof o, opts, fuzz_sizes, VMM_FUZZ_OPTIONS_VERSION,
                               "vmm_fuzz_options");
    if (rc < 0)
        return rc;
    if (o.flags & ~VMM_FUZZ_KEEP_PAGE_TABLES)
        return vmm__err(VMM_EINVAL, "vmm_fuzz_create: unknown flags 0x%x",
                        o.flags & ~VMM_FUZZ_KEEP_PAGE_TABLES);
    if (o.vcpu >= VMM__MAX_VCPUS || !vm->vcpus[o.vcpu])
        return vmm__err(VMM_EINVAL, "vmm_fuzz_create: the VM has no vCPU %u", o.vcpu);
    if (o.input_size < 8 || (o.input_addr & 7))
        return vmm__err(VMM_EINVAL,
                        "vmm_fuzz_create: the input region needs an 8-byte aligned address and "
                        "at least 8 bytes (the length field)");
    if ((rc = check_region(vm, "input", o.input_addr, o.input_size)) < 0)
        return rc;
    if (o.coverage_size &&
        (rc = check_region(vm, "coverage", o.coverage_addr, o.coverage_size)) < 0)
        return rc;
    if (o.coverage_size > SIZE_MAX / 2)
        return vmm__err(VMM_EINVAL, "vmm_fuzz_create: coverage region too large");
    vmm_fuzz *f = calloc(1, sizeof *f);
    if (!f)
        return vmm__err(VMM_ENOMEM, "vmm_fuzz_create: out of memory");
    f->vm = vm;
    f->vcpu = vm->vcpus[o.vcpu];
    f->o = o;
    if (o.coverage_size) {
        f->cov = calloc(1, (size_t)o.coverage_size);
        if (!f->cov) {
            free(f);
            return vmm__err(VMM_ENOMEM, "vmm_fuzz_create: out of memory");
        }
        /* Zero the counters in the guest; the snapshot then holds zeros. */
        rc = vmm_mem_write(vm, o.coverage_addr, f->cov, (size_t)o.coverage_size);
    }
    if (rc == 0)
        rc = vmm_snapshot_take(vm, &f->snap);
    if (rc < 0) {
        vmm__err_prefix("vmm_fuzz_create");
        vmm_fuzz_destroy(f);
        return rc;
    }
    *out = f;
    return 0;
}

void vmm_fuzz_destroy(vmm_fuzz *f)
{
    if (!f)
        return;
    vmm_snapshot_free(f->snap);
    free(f->cov);
    free(f);
}

int vmm_fuzz_reset(vmm_fuzz *f)
{
    if (!f)
        return vmm__err(VMM_EINVAL, "vmm_fuzz_reset: NULL argument");
    unsigned int flags = f->o.flags & VMM_FUZZ_KEEP_PAGE_TABLES ? VMM_SNAPSHOT_KEEP_PAGE_TABLES : 0;
    int rc = vmm_snapshot_restore_flags(f->vm, f->snap, flags);
    if (rc < 0) {
        vmm__err_prefix("vmm_fuzz_reset");
        return rc;
    }
    f->dirty = false;
    return 0;
}

/* Turn the exit that ended a run into an outcome. */
static void classify(const vmm_exit *x, vmm_fuzz_result *res)
{
    res->exit = *x;
    switch (x->reason) {
    case VMM_EXIT_STATUS:
        res->status = x->status.code;
        res->outcome = x->status.code == 0 ? VMM_FUZZ_OK : VMM_FUZZ_STATUS;
        break;
    case VMM_EXIT_HLT:
        res->outcome = VMM_FUZZ_OK;
        break;
    case VMM_EXIT_FAULT:
        res->outcome = VMM_FUZZ_CRASH;
        res->vector = x->fault.vector;
        res->error_code = x->fault.error_code;
        res->address = x->fault.address;
        res->rip = x->fault.rip;
        break;
    case VMM_EXIT_SHUTDOWN:
        res->outcome = VMM_FUZZ_CRASH;
        res->vector = VMM_FUZZ_VECTOR_SHUTDOWN;
        break;
    case VMM_EXIT_TIMEOUT:
        res->outcome = VMM_FUZZ_TIMEOUT;
        break;
    default:
        res->outcome = VMM_FUZZ_EXIT;
        break;
    }
}

int vmm_fuzz_run(vmm_fuzz *f, const void *input, size_t len, vmm_fuzz_result *res)
{
    if (!f || !res || (!input && len))
        return vmm__err(VMM_EINVAL, "vmm_fuzz_run: NULL argument");
    memset(res, 0, sizeof *res);
    if (len > f->o.input_size - 8)
        return vmm__err(VMM_ERANGE,
                        "vmm_fuzz_run: input of %zu bytes exceeds the %llu the input "
                        "region holds",
                        len, (unsigned long long)(f->o.input_size - 8));
    uint64_t t0 = vmm__now_ns();
    int rc;
    if (f->dirty && (rc = vmm_fuzz_reset(f)) < 0)
        return rc;
    uint64_t t1 = vmm__now_ns();
    f->dirty = true; /* from here on the VM differs from the snapshot */
    uint64_t n = len;
    if ((rc = vmm_mem_write(f->vm, f->o.input_addr, &n, 8)) < 0 ||
        (len && (rc = vmm_mem_write(f->vm, f->o.input_addr + 8, input, len)) < 0)) {
        vmm__err_prefix("vmm_fuzz_run");
        return rc;
    }
    uint64_t deadline = f->o.time_budget_ns ? t1 + f->o.time_budget_ns : 0;
    vmm_exit x;
    if ((rc = vmm__vcpu_run_until(f->vcpu, &x, deadline)) < 0) {
        vmm__err_prefix("vmm_fuzz_run");
        return rc;
    }
    classify(&x, res);
    if (f->cov &&
        (rc = vmm_mem_read(f->vm, f->o.coverage_addr, f->cov, (size_t)f->o.coverage_size)) < 0) {
        vmm__err_prefix("vmm_fuzz_run: coverage");
        return rc;
    }
    uint64_t t2 = vmm__now_ns();
    res->reset_ns = t1 - t0;
    res->run_ns = t2 - t1;
    f->stats.runs++;
    f->stats.crashes += res->outcome == VMM_FUZZ_CRASH;
    f->stats.timeouts += res->outcome == VMM_FUZZ_TIMEOUT;
    f->stats.reset_ns += res->reset_ns;
    f->stats.run_ns += res->run_ns;
    return 0;
}

const uint8_t *vmm_fuzz_coverage(const vmm_fuzz *f, size_t *len)
{
    if (len)
        *len = f ? (size_t)f->o.coverage_size : 0;
    return f ? f->cov : NULL;
}

int vmm_fuzz_get_stats(const vmm_fuzz *f, vmm_fuzz_stats *stats)
{
    if (!f || !stats)
        return vmm__err(VMM_EINVAL, "vmm_fuzz_get_stats: NULL argument");
    *stats = f->stats;
    return 0;
}

const vmm_snapshot *vmm_fuzz_snapshot(const vmm_fuzz *f)
{
    return f ? f->snap : NULL;
}
