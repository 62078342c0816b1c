/*  test_prom.c - fixed buckets (broker/buckets) and the Prometheus text
    writer (node/prom): the service levels' bounds count exactly, label
    values are escaped, histograms are cumulative. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buckets.h"
#include "prom.h"

static void test_bounds_count_exactly(void **state)
{
    (void)state;
    kp_buckets_t b;
    kp_buckets_init_latency(&b);
    kp_buckets_record(&b, 1000000); //  exactly 1 s: within 1 s
    kp_buckets_record(&b, 1000001); //  just over
    kp_buckets_record(&b, 4000000);
    kp_buckets_record(&b, 9000000); //  above the last bound
    kp_buckets_record(&b, 0);
    size_t one = 0;
    while (b.bounds[one] != 1000000)
        one++;
    assert_int_equal(kp_buckets_cumulative(&b, one), 2);     //  0 and 1 s
    assert_int_equal(kp_buckets_cumulative(&b, one + 1), 3); //  2 s
    assert_int_equal(kp_buckets_cumulative(&b, one + 2), 4); //  4 s
    assert_int_equal(kp_buckets_cumulative(&b, b.n), 5);
    assert_int_equal(b.count, 5);
    assert_int_equal(b.sum, 15000001);
}

static void test_label_escaping(void **state)
{
    (void)state;
    char labels[KP_PROM_LABELS] = "";
    kp_prom_label(labels, sizeof labels, "message", "a\"b\\c\nd");
    kp_prom_label(labels, sizeof labels, "status", "OK");
    assert_string_equal(labels, "message=\"a\\\"b\\\\c\\nd\",status=\"OK\"");
    //  A value too long for the buffer is cut, and the set stays closed.
    char small[16] = "";
    kp_prom_label(small, sizeof small, "k", "0123456789abcdef");
    assert_true(strlen(small) < sizeof small);
    assert_int_equal(small[strlen(small) - 1], '"');
}

static void test_histogram_text(void **state)
{
    (void)state;
    kp_buckets_t b;
    kp_buckets_init_sizes(&b);
    kp_buckets_record(&b, 3);
    kp_buckets_record(&b, 100000);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    kp_prom_family(out, "kp_x", "histogram", "sizes");
    kp_prom_histogram(out, "kp_x", "a=\"b\"", &b, 1);
    kp_prom_uint(out, "kp_big", NULL, 1796000180);
    kp_prom_double(out, "kp_whole", NULL, 1796000180.0);
    fclose(out);
    assert_non_null(strstr(text, "# TYPE kp_x histogram\n"));
    assert_non_null(strstr(text, "kp_x_bucket{a=\"b\",le=\"2\"} 0\n"));
    assert_non_null(strstr(text, "kp_x_bucket{a=\"b\",le=\"4\"} 1\n"));
    assert_non_null(strstr(text, "kp_x_bucket{a=\"b\",le=\"65536\"} 1\n"));
    assert_non_null(strstr(text, "kp_x_bucket{a=\"b\",le=\"+Inf\"} 2\n"));
    assert_non_null(strstr(text, "kp_x_sum{a=\"b\"} 100003\n"));
    assert_non_null(strstr(text, "kp_x_count{a=\"b\"} 2\n"));
    assert_non_null(strstr(text, "kp_big 1796000180\n"));
    assert_non_null(strstr(text, "kp_whole 1796000180\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_count_exactly),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_histogram_text),
    };
    return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}
