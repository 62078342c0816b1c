/*  test_schedule.c - intended send times of the open-loop scheduler. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>

#include <cmocka.h>

#include "schedule.h"

//  The intended time of the next request, taken.
static uint64_t s_next(kp_schedule_t *s)
{
    uint64_t at = 0;
    assert_int_equal(kp_schedule_take(s, UINT64_MAX, NULL, &at), 1);
    return at;
}

static kp_schedule_t *s_uniform(double rate, uint64_t start_ns, unsigned client, unsigned clients)
{
    return kp_schedule_new(KP_ARRIVALS_UNIFORM, rate, start_ns, client, clients, 0);
}

static void test_fixed_rate(void **state)
{
    (void)state;
    kp_schedule_t *s = s_uniform(1000, 5000, 0, 1); //  one per ms
    assert_non_null(s);
    assert_int_equal(s_next(s), 5000);
    assert_int_equal(s_next(s), 5000 + 1000000);
    //  No drift after many requests: computed, not accumulated.
    for (uint64_t k = 2; k < 1000000; k++)
        s_next(s);
    assert_int_equal(s_next(s), 5000 + 1000000ULL * 1000000ULL);
    kp_schedule_destroy(&s);
    assert_null(s);

    s = s_uniform(3, 0, 0, 1); //  1/3 s: not a whole number of ns
    for (uint64_t k = 0; k < 3000000; k++)
        s_next(s);
    assert_int_equal(s_next(s), 1000000ULL * 1000000000ULL);
    kp_schedule_destroy(&s);
}

static void test_take_when_due(void **state)
{
    (void)state;
    kp_schedule_t *s = s_uniform(100, 1000000000ULL, 0, 1); //  every 10 ms
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
        c[i] = s_uniform(1000, 0, i, 4);
    for (uint64_t k = 0; k < 100; k++)
        for (unsigned i = 0; i < 4; i++)
            assert_int_equal(s_next(c[i]), (k * 4 + i) * 1000000ULL);
    for (unsigned i = 0; i < 4; i++)
        kp_schedule_destroy(&c[i]);
}

//  Mean and coefficient of variation of n gaps; fails if time goes back.
static void s_gaps(kp_arrivals_t arrivals, double rate, unsigned client, unsigned clients,
                   uint64_t seed, size_t n, double *mean, double *cv)
{
    kp_schedule_t *s = kp_schedule_new(arrivals, rate, 1000, client, clients, seed);
    assert_non_null(s);
    uint64_t prev = s_next(s);
    assert_true(prev >= 1000);
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t at = s_next(s);
        if (at < prev)
            fail_msg("request %zu at %llu, before the one before it (%llu)", i + 1,
                     (unsigned long long)at, (unsigned long long)prev);
        double gap = (double)(at - prev);
        sum += gap;
        sum2 += gap * gap;
        prev = at;
    }
    *mean = sum / n;
    *cv = sqrt(sum2 / n - *mean * *mean) / *mean;
    kp_schedule_destroy(&s);
}

static void test_poisson_gaps(void **state)
{
    (void)state;
    //  200,000 exponential gaps: the standard error of the mean is 0.22%,
    //  of the CV about 0.3%; a few percent is many sigmas.
    double mean, cv;
    s_gaps(KP_ARRIVALS_POISSON, 2000, 0, 1, 42, 200000, &mean, &cv);
    assert_true(fabs(mean / 500000.0 - 1) < 0.02); //  1/R = 0.5 ms
    assert_true(fabs(cv - 1) < 0.03);
    //  One client of four runs at a quarter of the rate.
    s_gaps(KP_ARRIVALS_POISSON, 2000, 3, 4, 42, 200000, &mean, &cv);
    assert_true(fabs(mean / 2000000.0 - 1) < 0.02);
    assert_true(fabs(cv - 1) < 0.03);
    s_gaps(KP_ARRIVALS_UNIFORM, 2000, 0, 1, 42, 200000, &mean, &cv);
    assert_true(fabs(mean / 500000.0 - 1) < 0.001);
    assert_true(cv < 0.01);
}

static void test_poisson_seeded(void **state)
{
    (void)state;
    kp_schedule_t *a = kp_schedule_new(KP_ARRIVALS_POISSON, 1000, 0, 1, 2, 7);
    kp_schedule_t *b = kp_schedule_new(KP_ARRIVALS_POISSON, 1000, 0, 1, 2, 7);
    kp_schedule_t *other_seed = kp_schedule_new(KP_ARRIVALS_POISSON, 1000, 0, 1, 2, 8);
    kp_schedule_t *other_client = kp_schedule_new(KP_ARRIVALS_POISSON, 1000, 0, 0, 2, 7);
    int differ_seed = 0, differ_client = 0;
    for (int i = 0; i < 10000; i++) {
        uint64_t at = s_next(a);
        assert_int_equal(at, s_next(b));
        differ_seed += at != s_next(other_seed);
        differ_client += at != s_next(other_client);
    }
    //  Another seed, or another client, is another stream.
    assert_true(differ_seed > 9900);
    assert_true(differ_client > 9900);
    kp_schedule_destroy(&a);
    kp_schedule_destroy(&b);
    kp_schedule_destroy(&other_seed);
    kp_schedule_destroy(&other_client);
}

static void test_arrivals_names(void **state)
{
    (void)state;
    kp_arrivals_t a;
    assert_int_equal(kp_arrivals_parse("uniform", &a), 0);
    assert_int_equal(a, KP_ARRIVALS_UNIFORM);
    assert_int_equal(kp_arrivals_parse("poisson", &a), 0);
    assert_int_equal(a, KP_ARRIVALS_POISSON);
    assert_string_equal(kp_arrivals_name(a), "poisson");
    assert_int_equal(kp_arrivals_parse("bursty", &a), -1);
    assert_null(kp_arrivals_name((kp_arrivals_t)99));
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(s_uniform(0, 0, 0, 1));
    assert_null(s_uniform(-5, 0, 0, 1));
    assert_null(s_uniform(10, 0, 0, 0));
    assert_null(s_uniform(10, 0, 2, 2));
    assert_null(kp_schedule_new(KP_ARRIVALS_POISSON, NAN, 0, 0, 1, 0));
    assert_null(kp_schedule_new((kp_arrivals_t)99, 10, 0, 0, 1, 0));
    kp_schedule_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_rate),         cmocka_unit_test(test_take_when_due),
        cmocka_unit_test(test_split_over_clients), cmocka_unit_test(test_poisson_gaps),
        cmocka_unit_test(test_poisson_seeded),     cmocka_unit_test(test_arrivals_names),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
