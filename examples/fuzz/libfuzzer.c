/* SPDX-License-Identifier: MIT */
/* libFuzzer driving libvmm's fuzz harness: libFuzzer mutates, the guest target
 * (target.c) runs in a VM, and the guest's coverage counters are handed to
 * libFuzzer as extra counters, so its corpus grows with guest coverage. A
 * guest crash aborts the process, which libFuzzer records as a crash with the
 * input saved (crash-<sha1>).
 *
 * Built by the LIBVMM_FUZZ configuration (clang, -fsanitize=fuzzer) as
 * build-fuzz/fuzz/guest_fuzz; run as
 *   LIBVMM_FUZZ_TARGET=build-fuzz/fuzz/fuzz_target.elf build-fuzz/fuzz/guest_fuzz CORPUS_DIR
 * (the default target path is the one the build wrote). */
#include <libvmm/vmm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"

#ifndef LIBVMM_FUZZ_TARGET_PATH
#define LIBVMM_FUZZ_TARGET_PATH "fuzz_target.elf"
#endif

/* libFuzzer reads every byte of this section after each input as coverage. */
__attribute__((section("__libfuzzer_extra_counters"),
               used)) static uint8_t guest_counters[COVERAGE_SIZE];

static vmm_vm *vm;
static vmm_fuzz *harness;

static void die(const char *what)
{
    fprintf(stderr, "guest_fuzz: %s: %s\n", what, vmm_error_last()->message);
    exit(vmm_error_last()->code == VMM_ENODEV || vmm_error_last()->code == VMM_EPERM ? 77 : 2);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *target = getenv("LIBVMM_FUZZ_TARGET");
    if (!target)
        target = LIBVMM_FUZZ_TARGET_PATH;
    vmm_vcpu *vcpu = NULL;
    uint64_t entry = 0;
    char dx[64];
    snprintf(dx, sizeof dx, "{\"mmio\": %u, \"size\": 4}", DEBUG_EXIT_ADDR);
    if (vmm_vm_create(&vm, NULL) < 0)
        die("vmm_vm_create");
    if (vmm_mem_map(vm, 0, RAM_SIZE, NULL, 0) < 0 ||
        vmm_device_attach(NULL, vm, "debug-exit", dx) < 0 || vmm_boot_elf(vm, target, &entry) < 0 ||
        vmm_vcpu_create(&vcpu, vm, 0) < 0)
        die("building the VM");
    vmm_x86_setup_options o = VMM_X86_SETUP_OPTIONS_INIT;
    o.cpl = 3;
    o.entry = entry;
    o.stack = STACK_TOP;
    o.exceptions = VMM_X86_EXCEPTIONS_REPORT;
    if (vmm_x86_setup(vcpu, &o) < 0)
        die("vmm_x86_setup");
    vmm_fuzz_options fo = VMM_FUZZ_OPTIONS_INIT;
    fo.input_addr = INPUT_ADDR;
    fo.input_size = 8 + INPUT_MAX;
    fo.coverage_addr = COVERAGE_ADDR;
    fo.coverage_size = COVERAGE_SIZE;
    fo.time_budget_ns = 100000000;
    fo.flags = VMM_FUZZ_KEEP_PAGE_TABLES;
    if (vmm_fuzz_create(&harness, vm, &fo) < 0)
        die("vmm_fuzz_create");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > INPUT_MAX)
        return -1; /* not added to the corpus */
    vmm_fuzz_result r;
    if (vmm_fuzz_run(harness, data, size, &r) < 0)
        die("vmm_fuzz_run");
    memcpy(guest_counters, vmm_fuzz_coverage(harness, NULL), COVERAGE_SIZE);
    switch (r.outcome) {
    case VMM_FUZZ_CRASH:
        fprintf(stderr,
                "guest_fuzz: the guest crashed: vector %u, error code 0x%x, rip 0x%llx, address "
                "0x%llx\n",
                r.vector, r.error_code, (unsigned long long)r.rip, (unsigned long long)r.address);
        abort();
    case VMM_FUZZ_STATUS:
        fprintf(stderr, "guest_fuzz: the guest reported status %d\n", r.status);
        abort();
    case VMM_FUZZ_TIMEOUT:
        fprintf(stderr, "guest_fuzz: the guest ran out of its time budget\n");
        abort();
    case VMM_FUZZ_EXIT:
        fprintf(stderr, "guest_fuzz: unexpected exit %s\n", vmm_exit_reason_name(r.exit.reason));
        abort();
    case VMM_FUZZ_OK:
        break;
    }
    return 0;
}
