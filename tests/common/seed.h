/*  seed.h - the seed of a property test: fixed, printed, replaceable.

    CI runs every property test with its fixed seed, so that a failure
    there is the same failure on a developer's machine. KP_SEED=n in the
    environment runs it with n instead (KP_SEED=random: a new seed from
    the clock, to explore); either way the seed is printed first.
*/
#ifndef KP_TEST_SEED_H_INCLUDED
#define KP_TEST_SEED_H_INCLUDED

#include <stdint.h>

//  fixed, or KP_SEED's; printed with what test names it.
uint64_t kp_test_seed(const char *test, uint64_t fixed);

#endif
