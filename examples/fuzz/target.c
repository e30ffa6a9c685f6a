/* SPDX-License-Identifier: MIT */
/* The fuzz target of examples/fuzz: a tiny command interpreter with a planted
 * bug, run as a CPL 3 guest. It is compiled with clang's
 * -fsanitize-coverage=inline-8bit-counters; target.ld puts the counters at
 * COVERAGE_ADDR, where the host reads them after each run.
 *
 * Input (at INPUT_ADDR, as libvmm's fuzz harness writes it): a 64-bit length,
 * then the bytes. They must start with "FUZZ"; then each byte is a command:
 *   'a'          acc += 1
 *   's' <k>      slots[k % 8] = acc
 *   'l' <k>      acc = slots[k % 8]
 *   'x' '!' <8>  slots[index] = acc, the index taken from the next 8 bytes
 *                (little endian) WITHOUT a bounds check: the planted bug
 * The run ends by writing 0 to the debug-exit register. */
#include <stdint.h>

#include "target.h"

struct input {
    uint64_t len;
    uint8_t data[];
};

/* The constructor clang emits calls this; the counters need no set-up here. */
void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *stop);
void __sanitizer_cov_8bit_counters_init(uint8_t *start, uint8_t *stop)
{
    (void)start;
    (void)stop;
}

static uint64_t slots[8];

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t interpret(const uint8_t *d, uint64_t n)
{
    if (n < 4 || d[0] != 'F' || d[1] != 'U' || d[2] != 'Z' || d[3] != 'Z')
        return 0;
    uint64_t acc = 0;
    for (uint64_t i = 4; i < n; i++) {
        switch (d[i]) {
        case 'a':
            acc++;
            break;
        case 's':
            if (i + 1 < n)
                slots[d[++i] % 8] = acc;
            break;
        case 'l':
            if (i + 1 < n)
                acc = slots[d[++i] % 8];
            break;
        case 'x':
            if (i + 9 < n && d[i + 1] == '!') {
                slots[load64(d + i + 2)] = acc; /* the bug */
                i += 9;
            }
            break;
        default:
            break;
        }
    }
    return acc;
}

void _start(void);
__attribute__((section(".text.start"))) void _start(void)
{
    const struct input *in = (const struct input *)INPUT_ADDR;
    uint64_t n = in->len <= INPUT_MAX ? in->len : INPUT_MAX;
    volatile uint64_t result = interpret(in->data, n);
    (void)result;
    *(volatile uint32_t *)DEBUG_EXIT_ADDR = 0;
    for (;;)
        ;
}
