/*  test_replay.c - the node's memory of answered request ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "node/replay.h"

static void s_put(kp_replay_t *r, const char *id, const char *text, int64_t now_ms)
{
    kp_replay_put(r, id, text, strlen(text) + 1, now_ms);
}

static const char *s_get(kp_replay_t *r, const char *id)
{
    size_t size = 0;
    const char *data = kp_replay_get(r, id, &size);
    if (data)
        assert_int_equal(size, strlen(data) + 1);
    return data;
}

static void test_put_get(void **state)
{
    (void)state;
    kp_replay_t *r = kp_replay_new(1000, 10);
    assert_null(s_get(r, "a"));
    s_put(r, "a", "answer a", 0);
    s_put(r, "b", "answer b", 0);
    assert_string_equal(s_get(r, "a"), "answer a");
    assert_string_equal(s_get(r, "b"), "answer b");
    assert_null(s_get(r, "c"));
    assert_int_equal(kp_replay_size(r), 2);
    kp_replay_destroy(&r);
    assert_null(r);
}

//  A second answer to the same id wins; the first still counts until it
//  ages out, and its leaving does not take the second with it.
static void test_same_id_twice(void **state)
{
    (void)state;
    kp_replay_t *r = kp_replay_new(1000, 10);
    s_put(r, "a", "first", 0);
    s_put(r, "a", "second", 500);
    assert_string_equal(s_get(r, "a"), "second");
    kp_replay_expire(r, 1200);
    assert_string_equal(s_get(r, "a"), "second");
    assert_int_equal(kp_replay_size(r), 1);
    kp_replay_expire(r, 1600);
    assert_null(s_get(r, "a"));
    kp_replay_destroy(&r);
}

static void test_bounded_by_count(void **state)
{
    (void)state;
    kp_replay_t *r = kp_replay_new(1000000, 100);
    char id[32], text[32];
    for (int i = 0; i < 250; i++) {
        snprintf(id, sizeof id, "id-%d", i);
        snprintf(text, sizeof text, "answer %d", i);
        s_put(r, id, text, i);
    }
    assert_int_equal(kp_replay_size(r), 100);
    assert_null(s_get(r, "id-149"));
    assert_string_equal(s_get(r, "id-150"), "answer 150");
    assert_string_equal(s_get(r, "id-249"), "answer 249");
    kp_replay_destroy(&r);
}

//  Many more ids than the table starts with: it grows, and every id is
//  still found, and forgotten in order.
static void test_many(void **state)
{
    (void)state;
    kp_replay_t *r = kp_replay_new(1000, 1000000);
    char id[32], text[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(id, sizeof id, "%08x-%d", i * 2654435761u, i);
        snprintf(text, sizeof text, "%d", i);
        s_put(r, id, text, i / 10);
    }
    for (int i = 0; i < 20000; i += 7) {
        snprintf(id, sizeof id, "%08x-%d", i * 2654435761u, i);
        snprintf(text, sizeof text, "%d", i);
        assert_string_equal(s_get(r, id), text);
    }
    kp_replay_expire(r, 1999 + 1000); //  keeps time_ms >= 1999
    assert_int_equal(kp_replay_size(r), 10);
    assert_null(s_get(r, "00000000-0"));
    kp_replay_destroy(&r);
}

static void test_disabled(void **state)
{
    (void)state;
    kp_replay_t *r = kp_replay_new(1000, 0);
    s_put(r, "a", "answer", 0);
    assert_null(s_get(r, "a"));
    assert_int_equal(kp_replay_size(r), 0);
    kp_replay_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get),          cmocka_unit_test(test_same_id_twice),
        cmocka_unit_test(test_bounded_by_count), cmocka_unit_test(test_many),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
