/*  test_histogram.c - the bench histogram against exact percentiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>

#include <cmocka.h>

#include "histogram.h"

static const double s_percentiles[] = {1, 10, 25, 50, 75, 90, 99, 99.5, 99.9, 99.99, 100};

static int s_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

//  xorshift: reproducible without depending on the libc's rand().
static uint64_t s_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

//  The exact value at percentile p of sorted[0..n): rank ceil(p/100*n).
static uint64_t s_exact(const uint64_t *sorted, size_t n, double p)
{
    size_t rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static void s_check_against_exact(uint64_t *values, size_t n)
{
    kp_histogram_t *h = kp_histogram_new();
    for (size_t i = 0; i < n; i++)
        kp_histogram_record(h, values[i]);
    qsort(values, n, sizeof *values, s_cmp);
    assert_int_equal(kp_histogram_count(h), n);
    assert_int_equal(kp_histogram_min(h), values[0]);
    assert_int_equal(kp_histogram_max(h), values[n - 1]);
    for (size_t i = 0; i < sizeof s_percentiles / sizeof s_percentiles[0]; i++) {
        uint64_t exact = s_exact(values, n, s_percentiles[i]);
        uint64_t got = kp_histogram_percentile(h, s_percentiles[i]);
        double allowed = (double)exact * KP_HISTOGRAM_PRECISION;
        double diff = got > exact ? (double)(got - exact) : (double)(exact - got);
        if (diff > allowed) {
            fail_msg("p%g: histogram %llu, exact %llu, allowed error %.1f", s_percentiles[i],
                     (unsigned long long)got, (unsigned long long)exact, allowed);
        }
        //  Reported from the top of the bucket: never below the truth.
        assert_true(got >= exact);
    }
    kp_histogram_destroy(&h);
    assert_null(h);
}

static void test_selftest(void **state)
{
    (void)state;
    assert_int_equal(kp_histogram_selftest(), 0);
}

static void test_uniform(void **state)
{
    (void)state;
    size_t n = 100000;
    uint64_t *values = malloc(n * sizeof *values);
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < n; i++)
        values[i] = s_next(&rng) % 5000000; //  0..5 s
    s_check_against_exact(values, n);
    free(values);
}

static void test_log_spread(void **state)
{
    (void)state;
    //  Latencies spread over 1 us .. 10 minutes, as a long-tailed service.
    size_t n = 50000;
    uint64_t *values = malloc(n * sizeof *values);
    uint64_t rng = 12345;
    for (size_t i = 0; i < n; i++) {
        double u = (double)(s_next(&rng) % 1000000) / 1e6;
        values[i] = (uint64_t)exp(u * log(600e6));
    }
    s_check_against_exact(values, n);
    free(values);
}

static void test_small_and_exact(void **state)
{
    (void)state;
    uint64_t values[] = {3, 1, 2, 200, 255, 7};
    s_check_against_exact(values, 6);
    kp_histogram_t *h = kp_histogram_new();
    for (uint64_t v = 1; v <= 100; v++)
        kp_histogram_record(h, v);
    //  Below 256 us every value is its own bucket: exact answers.
    assert_int_equal(kp_histogram_percentile(h, 50), 50);
    assert_int_equal(kp_histogram_percentile(h, 99), 99);
    assert_int_equal(kp_histogram_percentile(h, 99.5), 100);
    assert_int_equal(kp_histogram_percentile(h, 100), 100);
    assert_true(kp_histogram_mean(h) > 50.49 && kp_histogram_mean(h) < 50.51);
    assert_true(kp_histogram_fraction_below(h, 10) > 0.099);
    assert_true(kp_histogram_fraction_below(h, 10) < 0.101);
    kp_histogram_destroy(&h);
}

static void test_empty_merge_clamp(void **state)
{
    (void)state;
    kp_histogram_t *a = kp_histogram_new();
    kp_histogram_t *b = kp_histogram_new();
    assert_int_equal(kp_histogram_percentile(a, 99), 0);
    assert_int_equal(kp_histogram_count(a), 0);
    kp_histogram_record_n(a, 1000, 99);
    kp_histogram_record(b, UINT64_MAX); //  beyond the range: clamped
    kp_histogram_merge(a, b);
    assert_int_equal(kp_histogram_count(a), 100);
    assert_int_equal(kp_histogram_clamped(a), 1);
    assert_int_equal(kp_histogram_max(a), KP_HISTOGRAM_MAX_VALUE);
    uint64_t p99 = kp_histogram_percentile(a, 99);
    assert_true(p99 >= 1000 && p99 <= 1008);
    assert_int_equal(kp_histogram_percentile(a, 99.5), KP_HISTOGRAM_MAX_VALUE);
    kp_histogram_reset(a);
    assert_int_equal(kp_histogram_count(a), 0);
    kp_histogram_destroy(&a);
    kp_histogram_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_selftest),          cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_log_spread),        cmocka_unit_test(test_small_and_exact),
        cmocka_unit_test(test_empty_merge_clamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
