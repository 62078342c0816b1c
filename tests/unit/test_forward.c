/*  test_forward.c - the follower's table of forwarded proposals
    (node/forward.h) and its counters: what `kpctl status`, `kpctl
    mutations status` and /metrics show as forwarding.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "forward.h"

#define S_LEADER 2

//  Forwards one proposal under token at now_ms: its id.
static uint64_t s_start(kp_forward_t *forward, uint64_t token, int64_t now_ms)
{
    static const uint8_t update[] = {0};
    Kp__ForwardProposal body;
    assert_int_equal(kp_forward_start(forward, token, S_LEADER, "node-2", update, sizeof update,
                                      now_ms, 1000000 + now_ms, &body),
                     0);
    return body.id;
}

static int s_answer(kp_forward_t *forward, uint64_t from, uint64_t id, kp_cluster_result_t result,
                    uint64_t index)
{
    Kp__ForwardResult body;
    kp_forward_result(&body, id, result, 7, index, "");
    return kp_forward_answer(forward, from, &body);
}

//  Each way a forward ends is counted once: applied (answered OK and
//  applied here), failure (the leader refused), timeout (no answer in
//  time); an answer from another node or for nothing pending is refused.
static void test_counters(void **state)
{
    (void)state;
    kp_forward_t *forward = kp_forward_new();
    uint64_t ok = s_start(forward, 1, 0), failed = s_start(forward, 2, 0);
    s_start(forward, 3, 0); //  never answered
    assert_int_equal(s_answer(forward, S_LEADER, ok, KP_CLUSTER_OK, 10), 0);
    assert_int_equal(s_answer(forward, S_LEADER, failed, KP_CLUSTER_FAILED, 0), 0);
    assert_int_equal(s_answer(forward, 3, ok, KP_CLUSTER_OK, 10), -1);        //  not the leader
    assert_int_equal(s_answer(forward, S_LEADER, 99, KP_CLUSTER_OK, 10), -1); //  nothing pending
    kp_forward_done_t done;
    //  Not applied here yet: the OK waits; the refusal is due.
    assert_true(kp_forward_due(forward, 9, S_LEADER, 10, &done));
    assert_int_equal(done.token, 2);
    assert_int_equal(done.result, KP_CLUSTER_FAILED);
    assert_false(kp_forward_due(forward, 9, S_LEADER, 10, &done));
    assert_true(kp_forward_due(forward, 10, S_LEADER, 20, &done));
    assert_int_equal(done.token, 1);
    assert_int_equal(done.result, KP_CLUSTER_OK);
    assert_true(kp_forward_due(forward, 10, S_LEADER, KP_FORWARD_TIMEOUT_MS, &done));
    assert_int_equal(done.token, 3);
    assert_int_equal(done.result, KP_CLUSTER_UNKNOWN);
    kp_forward_received(forward, true);
    kp_forward_received(forward, false);
    kp_forward_stats_t stats;
    kp_forward_stats(forward, &stats);
    assert_int_equal(stats.forwarded, 3);
    assert_int_equal(stats.results, 2);
    assert_int_equal(stats.applied, 1);
    assert_int_equal(stats.failures, 1);
    assert_int_equal(stats.timeouts, 1);
    assert_int_equal(stats.refused, 2);
    assert_int_equal(stats.received, 2);
    assert_int_equal(stats.rejected, 1);
    //  The status document's object, and the names /metrics uses.
    kp_json_t *json = kp_json_new();
    kp_json_object_open(json);
    kp_forward_stats_json(json, &stats);
    kp_json_object_close(json);
    char *text = kp_json_take(json);
    kp_json_destroy(&json);
    assert_string_equal(text, "{\"forwarding\":{\"forwarded\":3,\"results\":2,\"applied\":1,"
                              "\"failures\":1,\"timeouts\":1,\"refused\":2,\"received\":2,"
                              "\"rejected\":1}}");
    free(text);
    kp_forward_counter_t counters[KP_FORWARD_COUNTERS];
    size_t n = kp_forward_counters(&stats, counters);
    assert_int_equal(n, KP_FORWARD_COUNTERS);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(strncmp(counters[i].metric, "kp_forward_", 11), 0);
        assert_non_null(strstr(counters[i].metric, "_total"));
    }
    kp_forward_destroy(&forward);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
