/*  seed.c - the seed of a property test. */
#include "seed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t kp_test_seed(const char *test, uint64_t fixed)
{
    const char *given = getenv("KP_SEED");
    uint64_t seed = fixed;
    if (given && !strcmp(given, "random"))
        seed = (uint64_t)time(NULL);
    else if (given && *given)
        seed = strtoull(given, NULL, 0);
    printf("%s: seed %llu (replay with KP_SEED=%llu)\n", test, (unsigned long long)seed,
           (unsigned long long)seed);
    fflush(stdout);
    return seed;
}
