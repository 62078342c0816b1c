/*  test_waiting.c - parts waiting per institution and message type
    (node/waiting), and calls in flight per client (node/inflight). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "inflight.h"
#include "waiting.h"

//  Tickets from s_dead_from to s_dead_to no longer wait (their call ended).
static uint64_t s_dead_from = 1, s_dead_to = 0;

static bool s_live(uint64_t ticket, void *arg)
{
    (void)arg;
    return ticket < s_dead_from || ticket > s_dead_to;
}

static size_t s_count(zlistx_t *queue)
{
    return queue ? zlistx_size(queue) : 0;
}

static void test_bound_per_institution(void **state)
{
    (void)state;
    kp_waiting_t *waiting = kp_waiting_new(3);
    assert_int_equal(kp_waiting_add(waiting, "A", "M1", 1, s_live, NULL), 0);
    assert_int_equal(kp_waiting_add(waiting, "A", "M2", 2, s_live, NULL), 0);
    assert_int_equal(kp_waiting_add(waiting, "A", "M1", 3, s_live, NULL), 0);
    //  A is full over both its message types; B is not held back by it.
    assert_int_equal(kp_waiting_add(waiting, "A", "M3", 4, s_live, NULL), -1);
    assert_int_equal(kp_waiting_add(waiting, "B", "M1", 5, s_live, NULL), 0);
    assert_int_equal(kp_waiting_size(waiting), 4);
    //  Once tickets 2 and 3 stop waiting, A takes two more.
    s_dead_from = 2;
    s_dead_to = 3;
    assert_int_equal(kp_waiting_add(waiting, "A", "M3", 6, s_live, NULL), 0);
    assert_int_equal(kp_waiting_add(waiting, "A", "M3", 7, s_live, NULL), 0);
    assert_int_equal(kp_waiting_add(waiting, "A", "M3", 8, s_live, NULL), -1);
    kp_waiting_destroy(&waiting);
    assert_null(waiting);
}

static void test_walks(void **state)
{
    (void)state;
    s_dead_from = 1;
    s_dead_to = 0;
    kp_waiting_t *waiting = kp_waiting_new(100);
    assert_null(kp_waiting_first(waiting, NULL));
    assert_null(kp_waiting_first(waiting, "A"));
    kp_waiting_add(waiting, "A", "M1", 1, s_live, NULL);
    kp_waiting_add(waiting, "A", "M1", 2, s_live, NULL);
    kp_waiting_add(waiting, "A", "M2", 3, s_live, NULL);
    kp_waiting_add(waiting, "B", "M1", 4, s_live, NULL);
    kp_waiting_add(waiting, "C", "M9", 5, s_live, NULL);
    //  A's queues: one per message type, oldest ticket first.
    size_t queues = 0, tickets = 0;
    for (zlistx_t *q = kp_waiting_first(waiting, "A"); q; q = kp_waiting_next(waiting)) {
        queues++;
        tickets += s_count(q);
        uint64_t first = (uint64_t)(uintptr_t)zlistx_first(q);
        assert_true(first == 1 || first == 3);
    }
    assert_int_equal(queues, 2);
    assert_int_equal(tickets, 3);
    //  Every institution's.
    queues = tickets = 0;
    for (zlistx_t *q = kp_waiting_first(waiting, NULL); q; q = kp_waiting_next(waiting)) {
        queues++;
        tickets += s_count(q);
    }
    assert_int_equal(queues, 4);
    assert_int_equal(tickets, 5);
    //  A walker deletes what it serves.
    zlistx_t *q = kp_waiting_first(waiting, "B");
    zlistx_first(q);
    zlistx_delete(q, zlistx_cursor(q));
    assert_int_equal(kp_waiting_size(waiting), 4);
    kp_waiting_destroy(&waiting);
}

static void test_in_flight_per_client(void **state)
{
    (void)state;
    kp_inflight_t *inflight = kp_inflight_new(2);
    assert_true(kp_inflight_take(inflight, "c1", 2));
    assert_true(kp_inflight_take(inflight, "c1", 2));
    assert_false(kp_inflight_take(inflight, "c1", 2));
    assert_true(kp_inflight_take(inflight, "c2", 2));
    assert_int_equal(kp_inflight_clients(inflight), 2);
    kp_inflight_release(inflight, "c1", 2);
    assert_true(kp_inflight_take(inflight, "c1", 2));
    //  A retry over a new connection moves its call there, past the bound.
    kp_inflight_move(inflight, "c1", 2, "c2", 2);
    assert_int_equal(kp_inflight_count(inflight, "c1", 2), 1);
    assert_int_equal(kp_inflight_count(inflight, "c2", 2), 2);
    kp_inflight_move(inflight, "c1", 2, "c2", 2);
    assert_int_equal(kp_inflight_count(inflight, "c2", 2), 3);
    assert_int_equal(kp_inflight_clients(inflight), 1);
    for (int i = 0; i < 3; i++)
        kp_inflight_release(inflight, "c2", 2);
    assert_int_equal(kp_inflight_clients(inflight), 0);
    kp_inflight_take(inflight, "c3", 2); //  destroy frees what is left
    kp_inflight_destroy(&inflight);
    assert_null(inflight);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound_per_institution),
        cmocka_unit_test(test_walks),
        cmocka_unit_test(test_in_flight_per_client),
    };
    return cmocka_run_group_tests_name("waiting", tests, NULL, NULL);
}
