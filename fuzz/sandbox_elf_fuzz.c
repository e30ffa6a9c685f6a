/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the sandbox's ELF check and initial stack over arbitrary
 * bytes (see fuzz/CMakeLists.txt). Seeds in fuzz/corpus/sandbox_elf/ come from
 * `test_sandbox_elf --write-seeds DIR`. An accepted image must keep every
 * promise of sandbox_internal.h, which the loader then relies on. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define USER_LO    VMM__SBX_USER_LO
#define USER_HI    (64ull << 20)
#define STACK_SIZE (2ull << 20)

static void check_image(const struct vmm__sbx_image *im, size_t size)
{
    if (im->nsegs < 1 || im->nsegs > VMM__SBX_MAX_SEGS)
        __builtin_trap();
    if (im->lo < USER_LO || im->lo >= im->hi || im->hi > USER_HI || (im->lo | im->hi) & 4095)
        __builtin_trap();
    if (im->entry < im->lo || im->entry >= im->hi)
        __builtin_trap();
    if (im->bias != 0 && im->bias != VMM__SBX_PIE_BASE)
        __builtin_trap();
    int entry_in = 0;
    for (size_t i = 0; i < im->nsegs; i++) {
        const struct vmm__sbx_seg *s = &im->segs[i];
        if (s->memsz == 0 || s->filesz > s->memsz)
            __builtin_trap();
        if (s->offset > size || s->filesz > size - s->offset)
            __builtin_trap();
        if (s->vaddr < im->lo || s->memsz > im->hi - s->vaddr)
            __builtin_trap();
        for (size_t j = 0; j < i; j++) {
            const struct vmm__sbx_seg *t = &im->segs[j];
            if (s->vaddr < t->vaddr + t->memsz && t->vaddr < s->vaddr + s->memsz)
                __builtin_trap();
        }
        if (im->entry >= s->vaddr && im->entry - s->vaddr < s->memsz)
            entry_in = 1;
    }
    if (!entry_in)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exactly-sized copy, so that ASan sees any read past the end. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    struct vmm__sbx_image im;
    int rc = vmm__sbx_elf_check(copy, size, USER_LO, USER_HI, &im);
    free(copy);
    if (rc != 0) {
        if (rc != VMM_EINVAL && rc != VMM_ENOMEM)
            __builtin_trap();
        return 0;
    }
    check_image(&im, size);

    uint8_t *stack = malloc(STACK_SIZE);
    if (!stack)
        return 0;
    static const char *const argv[] = {"/fuzz/prog", "--flag", "", NULL};
    static const char *const envp[] = {"PATH=/bin", "LANG=C", NULL};
    static const uint8_t rnd[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    uint64_t lo = USER_HI - STACK_SIZE, rsp = 0;
    rc = vmm__sbx_build_stack(stack, lo, USER_HI, &im, argv, envp, rnd, &rsp);
    if (rc != 0 || rsp < lo || rsp >= USER_HI || rsp % 16 != 0)
        __builtin_trap();
    uint64_t argc;
    memcpy(&argc, stack + (rsp - lo), sizeof argc);
    if (argc != 3)
        __builtin_trap();
    free(stack);
    return 0;
}
