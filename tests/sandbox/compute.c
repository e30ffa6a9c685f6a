/* SPDX-License-Identifier: MIT */
/* Sandbox program: compute-bound work with a checkable result, for the tests
 * and the benchmark: argv[1] rounds (default 4, about 0.3 s natively) of a
 * sieve of Eratosthenes below 20,000,000 and an FNV-1a hash of the sieve that
 * carries over from round to round, so the result depends on the count. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT 20000000u

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 4;
    if (rounds < 1)
        rounds = 1;
    uint8_t *composite = malloc(LIMIT);
    if (!composite) {
        printf("out of memory\n");
        return 1;
    }
    unsigned int primes = 0;
    uint64_t hash = 0xcbf29ce484222325ull;
    for (long r = 0; r < rounds; r++) {
        memset(composite, 0, LIMIT);
        primes = 0;
        for (uint32_t i = 2; i < LIMIT; i++) {
            if (composite[i])
                continue;
            primes++;
            for (uint64_t j = (uint64_t)i * i; j < LIMIT; j += i)
                composite[j] = 1;
        }
        for (uint32_t i = 0; i < LIMIT; i++) {
            hash ^= composite[i];
            hash *= 0x100000001b3ull;
        }
    }
    free(composite);
    printf("rounds: %ld\nprimes below %u: %u\nfnv1a: %016llx\n", rounds, LIMIT, primes,
           (unsigned long long)hash);
    return 0;
}
