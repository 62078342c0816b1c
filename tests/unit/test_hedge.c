/*  test_hedge.c - hedging provider parts: the latency window, the hedge
    delays per institution, suspect workers in the registry, and calls in
    flight with two dispatches of one part. In-process, no sockets; time
    is given to each piece.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flight.h"
#include "hedge.h"
#include "registry.h"
#include "window.h"

#define KBO "0411702543"
#define OTHER "0206731645"

static int s_compare(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

//  The p99 is the value of rank ceil(0.99 n) among those held, whatever
//  their order; the window holds the last KP_WINDOW_SIZE.
static void test_window_p99(void **state)
{
    (void)state;
    uint64_t rng = 42;
    for (size_t n = 1; n <= 3 * KP_WINDOW_SIZE; n += 7) {
        kp_window_t *window = kp_window_new();
        assert_non_null(window);
        uint32_t all[3 * KP_WINDOW_SIZE];
        for (size_t i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            all[i] = (uint32_t)(rng >> 40) % (n % 3 ? 1000 : 7); //  with many equal values
            kp_window_add(window, all[i]);
        }
        size_t held = n < KP_WINDOW_SIZE ? n : KP_WINDOW_SIZE;
        assert_int_equal(kp_window_count(window), held);
        uint32_t sorted[KP_WINDOW_SIZE];
        memcpy(sorted, all + n - held, held * sizeof sorted[0]);
        qsort(sorted, held, sizeof sorted[0], s_compare);
        size_t rank = (held * 99 + 99) / 100;
        assert_int_equal(kp_window_p99(window), sorted[rank - 1]);
        kp_window_destroy(&window);
        assert_null(window);
    }
}

static void test_window_follows_change(void **state)
{
    (void)state;
    kp_window_t *window = kp_window_new();
    assert_int_equal(kp_window_p99(window), 0);
    for (int i = 0; i < KP_WINDOW_SIZE; i++)
        kp_window_add(window, 1000);
    assert_int_equal(kp_window_p99(window), 1000);
    //  A slower peer: within a window's worth of values the p99 shows it.
    for (int i = 0; i < KP_WINDOW_SIZE; i++)
        kp_window_add(window, 50000);
    assert_int_equal(kp_window_p99(window), 50000);
    kp_window_destroy(&window);
}

static void test_hedge_delay_bounded(void **state)
{
    (void)state;
    kp_hedge_t *hedge = kp_hedge_new(100, 1000);
    //  Nothing known yet: the upper bound.
    assert_int_equal(kp_hedge_delay_ms(hedge, KBO), 1000);
    for (int i = 0; i < KP_HEDGE_MIN_SAMPLES - 1; i++)
        kp_hedge_record(hedge, KBO, 2000);
    assert_int_equal(kp_hedge_delay_ms(hedge, KBO), 1000);
    kp_hedge_record(hedge, KBO, 2000);
    //  2 ms replies: the lower bound, not 2 ms.
    assert_int_equal(kp_hedge_delay_ms(hedge, KBO), 100);
    for (int i = 0; i < KP_WINDOW_SIZE; i++)
        kp_hedge_record(hedge, OTHER, i < KP_WINDOW_SIZE - 2 ? 250000 : 400000);
    assert_int_equal(kp_hedge_delay_ms(hedge, OTHER), 250);
    for (int i = 0; i < KP_WINDOW_SIZE; i++)
        kp_hedge_record(hedge, OTHER, 30000000);
    assert_int_equal(kp_hedge_delay_ms(hedge, OTHER), 1000);
    assert_int_equal(kp_hedge_delay_ms(hedge, KBO), 100); //  each its own
    kp_hedge_destroy(&hedge);
    assert_null(hedge);
}

static kp_registry_worker_t *s_worker(kp_registry_t *registry, const char *name, int64_t now)
{
    char *messages[] = {"A1"};
    return kp_registry_hello(registry, name, strlen(name), KBO, messages, 1, 4, now);
}

static void test_registry_suspect(void **state)
{
    (void)state;
    kp_registry_t *registry = kp_registry_new(1000);
    kp_registry_worker_t *a = s_worker(registry, "a", 0);
    kp_registry_worker_t *b = s_worker(registry, "b", 0);
    bool served;
    kp_registry_worker_take(b); //  b is busier
    assert_ptr_equal(kp_registry_pick(registry, KBO, "A1", &served), a);
    kp_registry_worker_suspect(a);
    assert_true(kp_registry_worker_is_suspect(a));
    assert_ptr_equal(kp_registry_pick(registry, KBO, "A1", &served), b);
    assert_ptr_equal(kp_registry_pick_except(registry, KBO, "A1", b, &served), a);
    //  Full siblings: the suspect one still serves.
    for (int i = 0; i < 3; i++)
        kp_registry_worker_take(b);
    assert_ptr_equal(kp_registry_pick(registry, KBO, "A1", &served), a);
    assert_null(kp_registry_pick_except(registry, KBO, "A1", a, &served));
    assert_true(served);
    //  Silent: the suspect one is dead after 2 intervals, the other after 3.
    kp_registry_touch(a, 0);
    kp_registry_touch(b, 0);
    assert_null(kp_registry_next_dead(registry, 2000));
    assert_ptr_equal(kp_registry_next_dead(registry, 2001), a);
    kp_registry_worker_answered(a);
    assert_false(kp_registry_worker_is_suspect(a));
    assert_null(kp_registry_next_dead(registry, 3000));
    assert_non_null(kp_registry_next_dead(registry, 3001));
    kp_registry_destroy(&registry);
}

//  Time the node did not run (kp_registry_pause) is not counted as a
//  worker's silence; silence after it still is.
static void test_registry_pause(void **state)
{
    (void)state;
    kp_registry_t *registry = kp_registry_new(100);
    kp_registry_worker_t *a = s_worker(registry, "a", 0);
    kp_registry_pause(registry, 0); //  nothing
    assert_int_equal(kp_registry_worker_last_seen(a), 0);
    //  The loop woke 500 ms late: a's heartbeats of that time are unread.
    kp_registry_pause(registry, 500);
    assert_null(kp_registry_next_dead(registry, 500));
    assert_null(kp_registry_next_dead(registry, 800));
    assert_ptr_equal(kp_registry_next_dead(registry, 801), a);
    kp_registry_destroy(&registry);
}

//  ---------------------------------------------------------------------
//  Calls in flight

static void s_free_request(Kp__Request *request)
{
    free(request->request_id);
    free(request);
}

static kp_call_t *s_start(kp_flight_t *flight, const char *id, int64_t deadline_ms)
{
    Kp__Request *request = malloc(sizeof *request);
    assert_non_null(request);
    kp__request__init(request);
    request->request_id = strdup(id);
    request->message = "A1";
    kp_decision_t decision;
    memset(&decision, 0, sizeof decision);
    decision.provider_count = 1;
    snprintf(decision.providers[0], sizeof decision.providers[0], "%s", KBO);
    return kp_flight_start(flight, request, "c", 1, NULL, &decision, 0, deadline_ms);
}

typedef struct {
    kp_registry_t *registry;
    kp_flight_t *flight;
    kp_registry_worker_t *a, *b;
} s_fixture_t;

static s_fixture_t s_fixture(void)
{
    s_fixture_t f;
    f.registry = kp_registry_new(1000);
    f.flight = kp_flight_new();
    kp_flight_set_request_free(f.flight, s_free_request);
    kp_flight_set_hedging(f.flight, 100, 1000);
    kp_flight_set_now(f.flight, 0);
    f.a = s_worker(f.registry, "a", 0);
    f.b = s_worker(f.registry, "b", 0);
    return f;
}

static void s_fixture_destroy(s_fixture_t *f)
{
    kp_flight_destroy(&f->flight);
    kp_registry_destroy(&f->registry);
}

//  A part held past the delay goes to b too; b's reply wins, a's is late.
static void test_flight_hedge_second_wins(void **state)
{
    (void)state;
    s_fixture_t f = s_fixture();
    kp_call_t *call = s_start(f.flight, "r-1", 3000);
    uint64_t first = kp_flight_dispatch(f.flight, call, 0, f.a);
    size_t index;
    kp_registry_worker_t *holder = NULL;
    //  Nothing known of the institution yet: the upper bound, 1000 ms.
    kp_flight_set_now(f.flight, 999);
    assert_int_equal(kp_flight_next_deadline(f.flight), 1000);
    assert_null(kp_flight_next_overdue(f.flight, &index, &holder));
    kp_flight_set_now(f.flight, 1000);
    assert_ptr_equal(kp_flight_next_overdue(f.flight, &index, &holder), call);
    assert_int_equal(index, 0);
    assert_ptr_equal(holder, f.a);
    assert_true(kp_registry_worker_is_suspect(f.a));
    assert_null(kp_flight_next_overdue(f.flight, &index, &holder)); //  once
    uint64_t second = kp_flight_hedge(f.flight, call, 0, f.b);
    assert_true(second > first);
    assert_int_equal(kp_registry_worker_outstanding(f.b), 1);
    assert_ptr_equal(kp_flight_by_ticket(f.flight, first, &index), call);
    assert_ptr_equal(kp_flight_by_ticket(f.flight, second, &index), call);
    assert_ptr_equal(kp_flight_ticket_worker(call, 0, first), f.a);
    assert_ptr_equal(kp_flight_ticket_worker(call, 0, second), f.b);
    assert_null(kp_flight_ticket_worker(call, 0, second + 1));
    kp_flight_set_now(f.flight, 1005);
    assert_int_equal(kp_flight_answer(f.flight, call, 0, second, KP__STATUS__OK, (uint8_t *)"x", 1),
                     0);
    assert_int_equal(kp_call_status(call), KP__STATUS__OK);
    assert_int_equal(kp_call_reason(call), KP__REASON__REASON_NONE);
    assert_int_equal(kp_registry_worker_outstanding(f.a), 0);
    assert_int_equal(kp_registry_worker_outstanding(f.b), 0);
    //  a's reply comes later: no open part has its ticket.
    assert_null(kp_flight_by_ticket(f.flight, first, &index));
    assert_true(first <= kp_flight_last_ticket(f.flight));
    kp_flight_stats_t stats;
    kp_flight_stats(f.flight, &stats);
    assert_int_equal(stats.hedges, 1);
    assert_int_equal(stats.hedge_wins, 1);
    assert_int_equal(stats.dropped, 1);
    kp_flight_finish(f.flight, &call);
    s_fixture_destroy(&f);
}

//  Replies feed the delay: after 16 quick replies, 100 ms (the floor).
static void test_flight_delay_learns(void **state)
{
    (void)state;
    s_fixture_t f = s_fixture();
    size_t index;
    kp_registry_worker_t *holder;
    for (int i = 0; i < KP_HEDGE_MIN_SAMPLES; i++) {
        char id[16];
        snprintf(id, sizeof id, "q-%d", i);
        kp_flight_set_now(f.flight, i * 10);
        kp_call_t *call = s_start(f.flight, id, 100000);
        uint64_t ticket = kp_flight_dispatch(f.flight, call, 0, f.a);
        kp_flight_set_now(f.flight, i * 10 + 3);
        assert_int_equal(kp_flight_answer(f.flight, call, 0, ticket, KP__STATUS__OK, NULL, 0), 0);
        kp_flight_finish(f.flight, &call);
    }
    //  The answered ones' entries come up, and are skipped.
    kp_flight_set_now(f.flight, 5000);
    assert_null(kp_flight_next_overdue(f.flight, &index, &holder));
    kp_call_t *call = s_start(f.flight, "slow", 100000);
    kp_flight_dispatch(f.flight, call, 0, f.a);
    assert_int_equal(kp_flight_next_deadline(f.flight), 5100);
    kp_flight_set_now(f.flight, 5100);
    assert_ptr_equal(kp_flight_next_overdue(f.flight, &index, &holder), call);
    kp_flight_finish(f.flight, &call);
    s_fixture_destroy(&f);
}

//  The hung worker is lost: the part goes on with b alone; b lost too, and
//  the part was already sent once more: UNAVAILABLE / WORKER_LOST.
static void test_flight_drop_worker(void **state)
{
    (void)state;
    s_fixture_t f = s_fixture();
    kp_call_t *call = s_start(f.flight, "r-2", 3000);
    kp_flight_dispatch(f.flight, call, 0, f.a);
    assert_false(kp_flight_drop_worker(f.flight, call, 0, f.a)); //  a alone holds it
    uint64_t second = kp_flight_hedge(f.flight, call, 0, f.b);
    assert_true(kp_flight_drop_worker(f.flight, call, 0, f.a));
    assert_int_equal(kp_registry_worker_outstanding(f.a), 0);
    assert_ptr_equal(call->parts[0].worker, f.b);
    assert_int_equal(call->parts[0].ticket, second);
    assert_int_equal(call->parts[0].hedge_ticket, 0);
    assert_false(kp_flight_drop_worker(f.flight, call, 0, f.b));
    assert_int_equal(kp_flight_refuse_part(f.flight, call, 0, KP__REASON__WORKER_LOST), 0);
    assert_int_equal(kp_call_status(call), KP__STATUS__UNAVAILABLE);
    assert_int_equal(kp_call_reason(call), KP__REASON__WORKER_LOST);
    kp_flight_finish(f.flight, &call);
    s_fixture_destroy(&f);
}

//  Every UNAVAILABLE has a reason; a TIMEOUT says DEADLINE_EXCEEDED.
static void test_call_reasons(void **state)
{
    (void)state;
    s_fixture_t f = s_fixture();
    kp_call_t *call = s_start(f.flight, "m-1", 3000);
    kp_flight_refuse_part(f.flight, call, 0, KP__REASON__MAINTENANCE);
    assert_int_equal(kp_call_reason(call), KP__REASON__MAINTENANCE);
    kp_flight_finish(f.flight, &call);
    call = s_start(f.flight, "m-2", 3000);
    kp_flight_close_part(f.flight, call, 0, KP__STATUS__UNAVAILABLE, NULL, 0);
    assert_int_equal(kp_call_reason(call), KP__REASON__NO_LIVE_WORKER);
    kp_flight_finish(f.flight, &call);
    call = s_start(f.flight, "t-1", 3000);
    kp_flight_dispatch(f.flight, call, 0, f.a);
    kp_flight_close_part(f.flight, call, 0, KP__STATUS__TIMEOUT, NULL, 0);
    assert_int_equal(kp_call_status(call), KP__STATUS__TIMEOUT);
    assert_int_equal(kp_call_reason(call), KP__REASON__DEADLINE_EXCEEDED);
    kp_flight_finish(f.flight, &call);
    //  Without hedging nothing is ever overdue.
    kp_flight_set_hedging(f.flight, 0, 0);
    call = s_start(f.flight, "n-1", 3000);
    kp_flight_dispatch(f.flight, call, 0, f.a);
    kp_flight_set_now(f.flight, 100000);
    size_t index;
    kp_registry_worker_t *holder;
    assert_null(kp_flight_next_overdue(f.flight, &index, &holder));
    kp_flight_finish(f.flight, &call);
    s_fixture_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_p99),
        cmocka_unit_test(test_window_follows_change),
        cmocka_unit_test(test_hedge_delay_bounded),
        cmocka_unit_test(test_registry_suspect),
        cmocka_unit_test(test_flight_hedge_second_wins),
        cmocka_unit_test(test_flight_delay_learns),
        cmocka_unit_test(test_flight_drop_worker),
        cmocka_unit_test(test_call_reasons),
        cmocka_unit_test(test_registry_pause),
    };
    return cmocka_run_group_tests_name("hedge", tests, NULL, NULL);
}
