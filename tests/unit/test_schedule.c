/*  test_schedule.c - intended send times of the open-loop scheduler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "schedule.h"

static void test_fixed_rate(void **state)
{
    (void)state;
    kp_schedule_t *s = kp_schedule_new(1000, 5000, 0, 1); //  one per ms
    assert_non_null(s);
    assert_int_equal(kp_schedule_at(s, 0), 5000);
    assert_int_equal(kp_schedule_at(s, 1), 5000 + 1000000);
    //  No drift after many requests: computed, not accumulated.
    assert_int_equal(kp_schedule_at(s, 1000000), 5000 + 1000000ULL * 1000000ULL);
    kp_schedule_destroy(&s);
    assert_null(s);

    s = kp_schedule_new(3, 0, 0, 1); //  1/3 s: not a whole number of ns
    assert_int_equal(kp_schedule_at(s, 3000000), 1000000ULL * 1000000000ULL);
    kp_schedule_destroy(&s);
}

static void test_take_when_due(void **state)
{
    (void)state;
    kp_schedule_t *s = kp_schedule_new(100, 1000000000ULL, 0, 1); //  every 10 ms
    uint64_t k, at;
    assert_int_equal(kp_schedule_take(s, 999999999ULL, &k, &at), 0);
    assert_int_equal(kp_schedule_take(s, 1000000000ULL, &k, &at), 1);
    assert_int_equal(k, 0);
    assert_int_equal(at, 1000000000ULL);
    //  A sender that stalled for 35 ms finds 3 more due at once, each with
    //  its own intended time: the stall is charged to the requests.
    uint64_t now = 1035000000ULL;
    int taken = 0;
    while (kp_schedule_take(s, now, &k, &at)) {
        taken++;
        assert_int_equal(at, 1000000000ULL + k * 10000000ULL);
    }
    assert_int_equal(taken, 3);
    assert_int_equal(kp_schedule_taken(s), 4);
    assert_int_equal(kp_schedule_peek(s), 1040000000ULL);
    kp_schedule_destroy(&s);
}

static void test_split_over_clients(void **state)
{
    (void)state;
    //  4 clients at a total of 1000/s interleave to one request per ms.
    kp_schedule_t *c[4];
    for (unsigned i = 0; i < 4; i++)
        c[i] = kp_schedule_new(1000, 0, i, 4);
    for (uint64_t k = 0; k < 100; k++)
        for (unsigned i = 0; i < 4; i++)
            assert_int_equal(kp_schedule_at(c[i], k), (k * 4 + i) * 1000000ULL);
    for (unsigned i = 0; i < 4; i++)
        kp_schedule_destroy(&c[i]);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(kp_schedule_new(0, 0, 0, 1));
    assert_null(kp_schedule_new(-5, 0, 0, 1));
    assert_null(kp_schedule_new(10, 0, 0, 0));
    assert_null(kp_schedule_new(10, 0, 2, 2));
    kp_schedule_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_rate),
        cmocka_unit_test(test_take_when_due),
        cmocka_unit_test(test_split_over_clients),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
