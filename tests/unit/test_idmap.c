/*  test_idmap.c - the open-addressing map of the request path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "seed.h"

#include "idmap.h"

//  A value that holds its key, as a call holds its request id.
typedef struct {
    char id[40];
    int serial;
} s_value_t;

static bool s_match(const void *value, const void *key)
{
    return strcmp(((const s_value_t *)value)->id, (const char *)key) == 0;
}

static uint64_t s_rand(uint64_t *state)
{
    //  xorshift64*: the sequence is the same on every run.
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1dULL;
}

#define S_KEYS 48
#define S_OPS 500000
#define S_ROUND 5000 //  ops before the map is emptied and made anew

typedef struct {
    char ids[S_KEYS][40];
    uint64_t hashes[S_KEYS];
    s_value_t *current[S_KEYS]; //  the reference: what get must return
    s_value_t *stale[S_KEYS];   //  a value that was replaced or removed
    s_value_t *values;          //  one fresh value per op
    size_t used;
    kp_idmap_t *map;
} s_model_t;

static s_value_t *s_fresh(s_model_t *m, size_t key)
{
    s_value_t *value = &m->values[m->used];
    snprintf(value->id, sizeof value->id, "%s", m->ids[key]);
    value->serial = (int)m->used++;
    return value;
}

static size_t s_model_size(const s_model_t *m)
{
    size_t size = 0;
    for (size_t k = 0; k < S_KEYS; k++)
        size += m->current[k] != NULL;
    return size;
}

static void s_check_all(s_model_t *m, size_t op)
{
    for (size_t k = 0; k < S_KEYS; k++) {
        void *got = kp_idmap_get(m->map, m->hashes[k], m->ids[k], s_match);
        if (got != m->current[k])
            fail_msg("op %zu: key %s: got %p, expected %p", op, m->ids[k], got,
                     (void *)m->current[k]);
    }
    assert_int_equal(kp_idmap_size(m->map), s_model_size(m));
    size_t capacity = kp_idmap_capacity(m->map);
    assert_true(capacity >= 4 && (capacity & (capacity - 1)) == 0);
    assert_true(2 * kp_idmap_size(m->map) <= capacity);
}

static void s_step(s_model_t *m, uint64_t *rng, size_t op)
{
    size_t key = s_rand(rng) % S_KEYS;
    uint64_t hash = m->hashes[key];
    const char *id = m->ids[key];
    s_value_t *current = m->current[key];
    switch (s_rand(rng) % 6) {
    case 0:
    case 1: { //  put
        s_value_t *value = s_fresh(m, key);
        int rc = kp_idmap_put(m->map, hash, id, s_match, value);
        assert_int_equal(rc, current ? 1 : 0);
        if (current)
            m->stale[key] = current;
        m->current[key] = value;
        break;
    }
    case 2: //  insert, only where the key is absent (the map keeps dups)
        if (current)
            assert_ptr_equal(kp_idmap_get(m->map, hash, id, s_match), current);
        else {
            s_value_t *value = s_fresh(m, key);
            assert_int_equal(kp_idmap_insert(m->map, hash, value), 0);
            m->current[key] = value;
        }
        break;
    case 3: //  remove
        assert_ptr_equal(kp_idmap_remove(m->map, hash, id, s_match), current);
        if (current)
            m->stale[key] = current;
        m->current[key] = NULL;
        break;
    case 4: { //  remove_value of the current value or of an older one
        bool older = s_rand(rng) & 1;
        s_value_t *value = older ? m->stale[key] : current;
        if (!value)
            break;
        bool expected = value == current;
        if (kp_idmap_remove_value(m->map, hash, value) != expected)
            fail_msg("op %zu: remove_value of %s #%d", op, id, value->serial);
        if (expected) {
            m->stale[key] = current;
            m->current[key] = NULL;
        }
        break;
    }
    default: //  get
        assert_ptr_equal(kp_idmap_get(m->map, hash, id, s_match), current);
        break;
    }
    s_check_all(m, op);
}

//  Empties the map key by key (checking as it goes) and starts a new one,
//  so that growth from the smallest table happens again and again.
static void s_new_round(s_model_t *m, size_t op)
{
    if (m->map) {
        for (size_t k = 0; k < S_KEYS; k++) {
            assert_ptr_equal(kp_idmap_remove(m->map, m->hashes[k], m->ids[k], s_match),
                             m->current[k]);
            m->current[k] = NULL;
            m->stale[k] = NULL;
            s_check_all(m, op);
        }
        kp_idmap_destroy(&m->map);
        assert_null(m->map);
    }
    m->map = kp_idmap_new(op % 5); //  4 or 8 slots at first
    assert_non_null(m->map);
}

//  distinct: how many hashes the keys share (0: each its own). Few hashes
//  mean long runs of equal hashes, where only the match tells keys apart.
static void s_property(unsigned distinct, uint64_t seed)
{
    s_model_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->values = calloc(S_OPS, sizeof(s_value_t));
    assert_non_null(m->values);
    for (size_t k = 0; k < S_KEYS; k++) {
        //  Lengths 5 to 33: every tail length of the eight-byte hash.
        snprintf(m->ids[k], sizeof m->ids[k], "id-%zu-%.*s", k, (int)(k % 29),
                 "abcdefghijklmnopqrstuvwxyz0123");
        m->hashes[k] = distinct ? kp_idmap_hash_u64(k % distinct) : kp_idmap_hash_str(m->ids[k]);
    }
    uint64_t rng = seed;
    for (size_t op = 0; op < S_OPS; op++) {
        if (op % S_ROUND == 0)
            s_new_round(m, op);
        s_step(m, &rng, op);
    }
    kp_idmap_destroy(&m->map);
    free(m->values);
    free(m);
}

static void test_property(void **state)
{
    (void)state;
    s_property(0, kp_test_seed("idmap property", 0x9e3779b97f4a7c15ULL));
}

static void test_property_few_hashes(void **state)
{
    (void)state;
    s_property(5, kp_test_seed("idmap property, few hashes", 0xdeadbeefcafef00dULL));
}

//  Keys that share one hash, whose home is the table's last slot: their
//  run wraps around to the start, and removals shift it back across the
//  end.
static void test_colliding_hashes(void **state)
{
    (void)state;
    kp_idmap_t *map = kp_idmap_new(64);
    assert_non_null(map);
    size_t capacity = kp_idmap_capacity(map);
    enum { COUNT = 40 };
    s_value_t values[COUNT] = {0};
    const uint64_t hash = UINT64_MAX;
    for (int i = 0; i < COUNT; i++) {
        snprintf(values[i].id, sizeof values[i].id, "same-%d", i);
        values[i].serial = i;
        assert_int_equal(kp_idmap_put(map, hash, values[i].id, s_match, &values[i]), 0);
    }
    assert_int_equal(kp_idmap_capacity(map), capacity); //  no growth hid the wrap
    assert_int_equal(kp_idmap_size(map), COUNT);
    for (int i = 0; i < COUNT; i++)
        assert_ptr_equal(kp_idmap_get(map, hash, values[i].id, s_match), &values[i]);
    assert_null(kp_idmap_get(map, hash, "same-x", s_match));
    //  A key with the same id under another hash is another key.
    assert_null(kp_idmap_get(map, hash - 1, values[0].id, s_match));

    //  Every third one out, from the middle of the run.
    for (int i = 1; i < COUNT; i += 3)
        assert_ptr_equal(kp_idmap_remove(map, hash, values[i].id, s_match), &values[i]);
    for (int i = 0; i < COUNT; i++)
        assert_ptr_equal(kp_idmap_get(map, hash, values[i].id, s_match),
                         i % 3 == 1 ? NULL : &values[i]);
    //  Then the rest, from the front, by value.
    for (int i = 0; i < COUNT; i++)
        if (i % 3 != 1)
            assert_true(kp_idmap_remove_value(map, hash, &values[i]));
    assert_int_equal(kp_idmap_size(map), 0);
    for (int i = 0; i < COUNT; i++)
        assert_null(kp_idmap_get(map, hash, values[i].id, s_match));
    kp_idmap_destroy(&map);
}

//  An older record leaving must not take the newer one for its key with
//  it (the outbox: two responses to one id, the first one released).
static void test_remove_value_keeps_newer(void **state)
{
    (void)state;
    kp_idmap_t *map = kp_idmap_new(0);
    assert_non_null(map);
    s_value_t older = {"req-1", 1}, newer = {"req-1", 2}, other = {"req-2", 3};
    uint64_t hash = kp_idmap_hash_str("req-1");
    assert_int_equal(kp_idmap_put(map, hash, "req-1", s_match, &older), 0);
    assert_int_equal(kp_idmap_put(map, kp_idmap_hash_str("req-2"), "req-2", s_match, &other), 0);
    assert_int_equal(kp_idmap_put(map, hash, "req-1", s_match, &newer), 1);
    assert_int_equal(kp_idmap_size(map), 2);
    assert_false(kp_idmap_remove_value(map, hash, &older));
    assert_ptr_equal(kp_idmap_get(map, hash, "req-1", s_match), &newer);
    assert_true(kp_idmap_remove_value(map, hash, &newer));
    assert_false(kp_idmap_remove_value(map, hash, &newer));
    assert_null(kp_idmap_get(map, hash, "req-1", s_match));
    assert_ptr_equal(kp_idmap_get(map, kp_idmap_hash_str("req-2"), "req-2", s_match), &other);

    //  insert keeps both of two values with one key; removing the older
    //  by value leaves the newer.
    assert_int_equal(kp_idmap_insert(map, hash, &older), 0);
    assert_int_equal(kp_idmap_insert(map, hash, &newer), 0);
    assert_int_equal(kp_idmap_size(map), 3);
    assert_true(kp_idmap_remove_value(map, hash, &older));
    assert_ptr_equal(kp_idmap_get(map, hash, "req-1", s_match), &newer);
    kp_idmap_destroy(&map);
    kp_idmap_destroy(&map); //  a second destroy is harmless
}

//  Sequential tickets must spread over the table, not fill one run.
static void test_hashes(void **state)
{
    (void)state;
    enum { SLOTS = 4096 };
    static unsigned char used[SLOTS];
    size_t distinct = 0;
    for (uint64_t ticket = 1; ticket <= SLOTS; ticket++) {
        size_t slot = kp_idmap_hash_u64(ticket) & (SLOTS - 1);
        distinct += !used[slot];
        used[slot] = 1;
    }
    //  Random placement fills 1 - 1/e (63%) of the slots.
    assert_true(distinct > SLOTS * 58 / 100);
    assert_true(distinct < SLOTS * 68 / 100);
    assert_int_not_equal(kp_idmap_hash_u64(1), kp_idmap_hash_u64(2));
    //  Every byte counts, the length too.
    assert_int_not_equal(kp_idmap_hash_str("request-00000001"),
                         kp_idmap_hash_str("request-00000002"));
    assert_int_not_equal(kp_idmap_hash_str("abcdefghi"), kp_idmap_hash_str("abcdefghj"));
    assert_int_not_equal(kp_idmap_hash_str(""), kp_idmap_hash_bytes("", 1));
    assert_int_equal(kp_idmap_hash_str("abc"), kp_idmap_hash_bytes("abcdef", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_property),         cmocka_unit_test(test_property_few_hashes),
        cmocka_unit_test(test_colliding_hashes), cmocka_unit_test(test_remove_value_keeps_newer),
        cmocka_unit_test(test_hashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
