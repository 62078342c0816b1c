/*  test_validate.c - INSZ, KBO, dates and times.

    Expected check digits are worked out by hand in the comments (mod 97 of
    the body), never by calling the code under test.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

//  850730033 mod 97 = 69, check 97 - 69 = 28: born 1985-07-30.
static void test_insz_1900s(void **state)
{
    (void)state;
    assert_true(kp_insz_valid("85073003328"));
    //  751231999 mod 97 = 76 -> 21
    assert_true(kp_insz_valid("75123199921"));
    //  every other check digit pair fails, including 97 - 69 = 28 +/- 1
    assert_false(kp_insz_valid("85073003327"));
    assert_false(kp_insz_valid("85073003329"));
    assert_false(kp_insz_valid("85073003300"));
    assert_false(kp_insz_valid("85073003397"));
    //  a changed body digit breaks the check
    assert_false(kp_insz_valid("85073004328"));
}

//  Born from 2000: the check covers "2" followed by the body.
//  2010101001 mod 97 = 71 -> 26; the pre-2000 check would be 97 - 3 = 94.
static void test_insz_2000s(void **state)
{
    (void)state;
    assert_true(kp_insz_valid("01010100126"));
    //  the body's own check is also a valid number (a 1901 birth)
    assert_true(kp_insz_valid("01010100194"));
    assert_false(kp_insz_valid("01010100125"));
    assert_false(kp_insz_valid("01010100127"));
    //  2000000001 mod 97 = 69 -> 28; 000000001 mod 97 = 1 -> 96
    assert_true(kp_insz_valid("00000000128"));
    assert_true(kp_insz_valid("00000000196"));
    assert_false(kp_insz_valid("00000000197"));
}

//  Bis numbers: month + 20 (gender unknown) or + 40 (gender known).
static void test_insz_bis(void **state)
{
    (void)state;
    //  plain month 02 for comparison: 850230033 mod 97 = 7 -> 90
    assert_true(kp_insz_valid("85023003390"));
    //  854730033 mod 97 = 80 -> 17: month 47 = 7 + 40
    assert_true(kp_insz_valid("85473003317"));
    assert_false(kp_insz_valid("85473003318"));
    //  month 27 = 7 + 20: 852730033 mod 97 = 26 -> 71
    assert_true(kp_insz_valid("85273003371"));
    //  month 13, 33 and 53 are no month at all, even with a right check:
    //  851330033 mod 97 = 27 -> 70; 853330033 mod 97 = 81 -> 16;
    //  855330033 mod 97 = 38 -> 59
    assert_false(kp_insz_valid("85133003370"));
    assert_false(kp_insz_valid("85333003316"));
    assert_false(kp_insz_valid("85533003359"));
    //  day 32 is refused: 850732033 mod 97 = 32 -> 65
    assert_false(kp_insz_valid("85073203365"));
}

static void test_insz_shape(void **state)
{
    (void)state;
    assert_false(kp_insz_valid(NULL));
    assert_false(kp_insz_valid(""));
    assert_false(kp_insz_valid("8507300332"));   //  10 digits
    assert_false(kp_insz_valid("850730033280")); //  12 digits
    assert_false(kp_insz_valid("85.07.30-033.28"));
    assert_false(kp_insz_valid("8507300332a"));
    assert_false(kp_insz_valid(" 85073003328"));
    assert_false(kp_insz_valid("85073003328 "));
    assert_false(kp_insz_valid("-5073003328"));
}

//  04117025 mod 97 = 54 -> 43; 02033675 mod 97 = 70 -> 27;
//  10000000 mod 97 = 76 -> 21; 00000000 mod 97 = 0 -> 97.
static void test_kbo(void **state)
{
    (void)state;
    assert_true(kp_kbo_valid("0411702543"));
    assert_true(kp_kbo_valid("0203367527"));
    assert_true(kp_kbo_valid("1000000021"));
    assert_true(kp_kbo_valid("0000000097"));
    assert_false(kp_kbo_valid("0411702542"));
    assert_false(kp_kbo_valid("0411702544"));
    assert_false(kp_kbo_valid("0000000000"));
    //  first digit must be 0 or 1: 24117025 mod 97 = 12 -> 85
    assert_false(kp_kbo_valid("2411702585"));
    assert_false(kp_kbo_valid(NULL));
    assert_false(kp_kbo_valid(""));
    assert_false(kp_kbo_valid("411702543"));
    assert_false(kp_kbo_valid("04117025430"));
    assert_false(kp_kbo_valid("0411.702.543"));
    assert_false(kp_kbo_valid("041170254x"));
}

static int32_t s_date(const char *text)
{
    int32_t days = INT32_MIN;
    assert_int_equal(kp_date_parse(text, &days), 0);
    return days;
}

static void test_date_known(void **state)
{
    (void)state;
    assert_int_equal(s_date("1970-01-01"), 0);
    assert_int_equal(s_date("1969-12-31"), -1);
    assert_int_equal(s_date("1900-01-01"), -25567);
    assert_int_equal(s_date("2000-02-29"), 11016);
    assert_int_equal(s_date("2000-03-01"), 11017);
    assert_int_equal(s_date("2024-02-29"), 19782);
    assert_int_equal(s_date("9999-12-31"), 2932896);
    char out[11];
    const char *samples[] = {"1900-01-01", "1969-12-31", "1970-01-01",
                             "2000-02-29", "2024-12-31", "9999-12-31"};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        kp_date_format(s_date(samples[i]), out);
        assert_string_equal(out, samples[i]);
    }
}

static void test_date_leap(void **state)
{
    (void)state;
    int32_t days;
    //  divisible by 400: leap; by 100 only: not; by 4: leap
    assert_int_equal(kp_date_parse("2000-02-29", &days), 0);
    assert_int_equal(kp_date_parse("2400-02-29", &days), 0);
    assert_int_equal(kp_date_parse("1996-02-29", &days), 0);
    assert_int_equal(kp_date_parse("1900-02-29", &days), -1);
    assert_int_equal(kp_date_parse("2100-02-29", &days), -1);
    assert_int_equal(kp_date_parse("2023-02-29", &days), -1);
    assert_int_equal(kp_date_parse("2024-02-30", &days), -1);
    //  consecutive days across the leap day
    assert_int_equal(s_date("2024-03-01") - s_date("2024-02-28"), 2);
    assert_int_equal(s_date("2023-03-01") - s_date("2023-02-28"), 1);
    assert_int_equal(s_date("2001-01-01") - s_date("2000-01-01"), 366);
    assert_int_equal(s_date("1901-01-01") - s_date("1900-01-01"), 365);
}

static void test_date_bad(void **state)
{
    (void)state;
    int32_t days = 12345;
    const char *bad[] = {"",           "2024-1-01",   "2024-01-1",   "2024/01/01",
                         "20240101",   "2024-01-01 ", " 2024-01-01", "2024-01-01T",
                         "1899-12-31", "2024-13-01",  "2024-00-10",  "2024-01-00",
                         "2024-04-31", "2024-01-32",  "abcd-ef-gh",  "+024-01-01",
                         "2024-0a-01", "2024--1-01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(kp_date_parse(bad[i], &days), -1);
    assert_int_equal(kp_date_parse(NULL, &days), -1);
    assert_int_equal(days, 12345); //  untouched on failure
}

static void test_time(void **state)
{
    (void)state;
    int64_t seconds;
    char out[21];
    assert_int_equal(kp_time_parse("2026-11-28T22:00:00Z", &seconds), 0);
    assert_int_equal(seconds, 1795903200);
    kp_time_format(seconds, out);
    assert_string_equal(out, "2026-11-28T22:00:00Z");

    assert_int_equal(kp_time_parse("1969-12-31T23:59:59Z", &seconds), 0);
    assert_int_equal(seconds, -1);
    kp_time_format(seconds, out);
    assert_string_equal(out, "1969-12-31T23:59:59Z");

    assert_int_equal(kp_time_parse("1900-01-01T00:00:00Z", &seconds), 0);
    assert_int_equal(seconds, -2208988800LL);
    kp_time_format(seconds, out);
    assert_string_equal(out, "1900-01-01T00:00:00Z");

    //  a bare date is midnight UTC
    assert_int_equal(kp_time_parse("2026-11-28", &seconds), 0);
    assert_int_equal(seconds, 1795903200 - 22 * 3600);

    //  round trip over a spread of instants, one second apart at the edges
    const int64_t samples[] = {0,     59,        60,        3599,       3600,          86399,
                               86400, 951782399, 951782400, 1795903200, 253402300799LL};
    for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
        kp_time_format(samples[i], out);
        assert_int_equal(kp_time_parse(out, &seconds), 0);
        assert_int_equal(seconds, samples[i]);
    }
    kp_time_format(951782400, out); //  2000-02-29T00:00:00Z
    assert_string_equal(out, "2000-02-29T00:00:00Z");
    kp_time_format(253402300799LL, out);
    assert_string_equal(out, "9999-12-31T23:59:59Z");

    const char *bad[] = {"2026-11-28T24:00:00Z",      "2026-11-28T22:60:00Z",
                         "2026-11-28T22:00:60Z",      "2026-11-28 22:00:00Z",
                         "2026-11-28T22:00:00",       "2026-11-28T22:00Z",
                         "2026-11-28T22:00:00+01:00", "2026-02-30T00:00:00Z",
                         "2026-11-28T2a:00:00Z",      ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(kp_time_parse(bad[i], &seconds), -1);
    assert_int_equal(kp_time_parse(NULL, &seconds), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insz_1900s), cmocka_unit_test(test_insz_2000s),
        cmocka_unit_test(test_insz_bis),   cmocka_unit_test(test_insz_shape),
        cmocka_unit_test(test_kbo),        cmocka_unit_test(test_date_known),
        cmocka_unit_test(test_date_leap),  cmocka_unit_test(test_date_bad),
        cmocka_unit_test(test_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
