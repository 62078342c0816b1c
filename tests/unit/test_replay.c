/*  test_replay.c - the node's memory of answered request ids. */
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

//  Entries bigger than a slab (4 MiB) get one of their own, among small
//  ones, and leave in order like the others.
static void test_big_entries(void **state)
{
    (void)state;
    size_t big_size = 6u << 20;
    unsigned char *big = malloc(big_size);
    assert_non_null(big);
    for (size_t i = 0; i < big_size; i++)
        big[i] = (unsigned char)(i * 7 + i / 4099);
    kp_replay_t *r = kp_replay_new(1000, 3);
    for (int round = 0; round < 3; round++) {
        s_put(r, "small", "before", round * 10);
        kp_replay_put(r, "big", big, big_size, round * 10 + 1);
        s_put(r, "after", "after", round * 10 + 2);
        size_t size = 0;
        const void *data = kp_replay_get(r, "big", &size);
        assert_non_null(data);
        assert_int_equal(size, big_size);
        assert_memory_equal(data, big, big_size);
        assert_string_equal(s_get(r, "small"), "before");
        assert_string_equal(s_get(r, "after"), "after");
        assert_int_equal(kp_replay_size(r), 3);
    }
    //  Alone and empty: the next big one still fits.
    kp_replay_expire(r, 5000);
    assert_int_equal(kp_replay_size(r), 0);
    kp_replay_put(r, "big", big, big_size, 5000);
    kp_replay_put(r, "big2", big, big_size, 5000);
    size_t size = 0;
    assert_non_null(kp_replay_get(r, "big2", &size));
    assert_int_equal(size, big_size);
    kp_replay_destroy(&r);
    free(big);
}

//  --- Random operations against a model ------------------------------------
//  The model is a FIFO of every put, oldest first, and for each id the
//  sequence number of its latest put: an id is answered with its latest
//  put if that is still in the FIFO.

#define S_MODEL_IDS 3000
#define S_MODEL_MAX_SIZE 2000

typedef struct {
    int id;
    int64_t time_ms;
    size_t size;
    unsigned char data[S_MODEL_MAX_SIZE];
} s_model_entry_t;

typedef struct {
    s_model_entry_t *ring; //  max of them
    size_t max;
    int64_t keep_ms;
    uint64_t first, next;        //  sequence numbers of the oldest put and the next
    int64_t latest[S_MODEL_IDS]; //  sequence number of the id's latest put, or -1
    //  What happened, so that the test knows it tried each case.
    size_t count_drops, time_drops, replacements, hits;
} s_model_t;

static s_model_entry_t *s_model_at(s_model_t *m, uint64_t seq)
{
    return &m->ring[seq % m->max];
}

static const s_model_entry_t *s_model_get(s_model_t *m, int id)
{
    if (m->latest[id] < 0 || (uint64_t)m->latest[id] < m->first)
        return NULL;
    return s_model_at(m, (uint64_t)m->latest[id]);
}

static void s_model_put(s_model_t *m, int id, const unsigned char *data, size_t size, int64_t now)
{
    if (m->max == 0)
        return;
    if (m->next - m->first == m->max) {
        m->first++;
        m->count_drops++;
    }
    if (s_model_get(m, id))
        m->replacements++;
    s_model_entry_t *e = s_model_at(m, m->next);
    e->id = id;
    e->time_ms = now;
    e->size = size;
    memcpy(e->data, data, size);
    m->latest[id] = (int64_t)m->next++;
}

static void s_model_expire(s_model_t *m, int64_t now)
{
    while (m->first < m->next && now - s_model_at(m, m->first)->time_ms > m->keep_ms) {
        m->first++;
        m->time_drops++;
    }
}

//  xorshift64*: the test repeats itself given its seed.
static uint64_t s_random(uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ULL;
}

static void s_id_text(int id, char *text, size_t size)
{
    //  Lengths vary, across the hash's eight byte steps.
    snprintf(text, size, "%.*s-%d", id % 23, "req-0123456789abcdefghijk", id);
}

static void s_check_id(kp_replay_t *r, s_model_t *m, int id)
{
    char text[64];
    s_id_text(id, text, sizeof text);
    size_t size = SIZE_MAX;
    const void *data = kp_replay_get(r, text, &size);
    const s_model_entry_t *e = s_model_get(m, id);
    if (!e) {
        assert_null(data);
        return;
    }
    assert_non_null(data);
    m->hits++;
    assert_int_equal(size, e->size);
    if (size)
        assert_memory_equal(data, e->data, size);
}

//  With check_coverage, also that the run saw every case often.
static void s_property(uint64_t seed, size_t max, int64_t keep_ms, int operations,
                       bool check_coverage)
{
    s_model_t *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->ring = calloc(max ? max : 1, sizeof *m->ring);
    assert_non_null(m->ring);
    m->max = max;
    m->keep_ms = keep_ms;
    for (int i = 0; i < S_MODEL_IDS; i++)
        m->latest[i] = -1;
    kp_replay_t *r = kp_replay_new(keep_ms, max);
    uint64_t state = seed;
    int64_t now = 0;
    unsigned char data[S_MODEL_MAX_SIZE];
    char text[64];
    for (int op = 0; op < operations; op++) {
        uint64_t roll = s_random(&state);
        //  A few hot ids, so that replacements and hits are frequent, among
        //  enough ids to fill more than the table's first size.
        int id = (int)(s_random(&state) % (roll % 2 ? 100 : S_MODEL_IDS));
        switch (roll % 8) {
        case 0:
        case 1:
        case 2:
        case 3: {
            size_t size = (size_t)(s_random(&state) % (S_MODEL_MAX_SIZE + 1));
            //  Small sizes often, to test the edges.
            if (roll % 64 < 8)
                size = roll % 64 < 4 ? 0 : 1;
            for (size_t i = 0; i < size; i++)
                data[i] = (unsigned char)s_random(&state);
            s_id_text(id, text, sizeof text);
            kp_replay_put(r, text, data, size, now);
            s_model_put(m, id, data, size, now);
            break;
        }
        case 4:
        case 5:
            s_check_id(r, m, id);
            break;
        case 6:
            //  The clock runs slow, then fast: the count bound, then time.
            now += (int64_t)(s_random(&state) % (op / 20000 % 2 ? 8 : 2));
            kp_replay_expire(r, now);
            s_model_expire(m, now);
            break;
        default:
            s_id_text(id, text, sizeof text);
            text[0] = 'X'; //  never put
            assert_null(kp_replay_get(r, text, &(size_t){0}));
            break;
        }
        assert_int_equal(kp_replay_size(r), m->next - m->first);
        s_check_id(r, m, (int)(s_random(&state) % S_MODEL_IDS));
        if (op % 5000 == 0)
            for (int i = 0; i < S_MODEL_IDS; i++)
                s_check_id(r, m, i);
    }
    kp_replay_destroy(&r);
    if (check_coverage) {
        assert_true(m->count_drops > 100 && m->time_drops > 100);
        assert_true(m->replacements > 100 && m->hits > 100);
    }
    free(m->ring);
    free(m);
}

//  Many more puts than max, with the count bound and the time bound
//  taking turns, entries of all sizes across slabs, and ids that come back.
static void test_property(void **state)
{
    (void)state;
    s_property(kp_test_seed("replay property", 0x9e3779b97f4a7c15ULL), 1000, 200, 200000, true);
}

static void test_property_small(void **state)
{
    (void)state;
    uint64_t seed = kp_test_seed("replay property, small", 42);
    s_property(seed, 1, 5, 20000, false);
    s_property(seed + 1, 7, 5, 20000, false);
    s_property(seed + 2, 0, 5, 2000, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get),          cmocka_unit_test(test_same_id_twice),
        cmocka_unit_test(test_bounded_by_count), cmocka_unit_test(test_many),
        cmocka_unit_test(test_disabled),         cmocka_unit_test(test_big_entries),
        cmocka_unit_test(test_property),         cmocka_unit_test(test_property_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
