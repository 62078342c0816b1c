/*  test_mirror.c - the log mirror's shipper (log/mirror.h) with a keeper
    that never answers: it degrades after its timeout, and responses are
    released on local durability only while the node has a majority. A
    node cut off from its majority and from its mirror holds them until
    the majority (or the mirror) is back; the records that leave so are
    marked first. Real actor, real ZeroMQ. And the ranges of local-only
    records as readers see them (log/localonly.h). */
#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "localonly.h"
#include "mirror.h"
#include "tmpdir.h"

//  Waits (reading the shipper's news) until it says it is degraded.
static bool s_wait_degraded(kp_mirror_t *mirror, int timeout_ms)
{
    int64_t until = zclock_mono() + timeout_ms;
    while (zclock_mono() < until) {
        zsock_t *sock = kp_mirror_sock(mirror);
        if (zsock_events(sock) & ZMQ_POLLIN)
            kp_mirror_recv(mirror);
        else {
            zpoller_t *poller = zpoller_new(sock, NULL);
            zpoller_wait(poller, 50);
            zpoller_destroy(&poller);
        }
        if (kp_mirror_degraded(mirror))
            return true;
    }
    return false;
}

static void test_degraded_only_with_a_majority(void **state)
{
    (void)state;
    char dir[256];
    assert_int_equal(kp_test_tmpdir(dir, sizeof dir, "kp-mirror"), 0);
    //  Nobody listens there: no acknowledgement ever comes.
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d",
             1 + (int)(zclock_mono() % 1000) + 30000);
    kp_mirror_t *mirror = kp_mirror_new("node-1", dir, endpoint, 100, NULL);
    assert_non_null(mirror);
    //  Before the timeout: nothing leaves before the mirror has it.
    kp_mirror_durable(mirror, 5);
    assert_int_equal(kp_mirror_release(mirror, 5), 0);
    //  Without a majority the node holds its responses, degraded or not.
    kp_mirror_quorum(mirror, false);
    assert_true(s_wait_degraded(mirror, 5000));
    assert_true(kp_mirror_held(mirror));
    assert_int_equal(kp_mirror_release(mirror, 5), 0);
    //  The node is told to mark the records from 1 on as local-only
    //  (log/localonly.h); the majority back, they leave on local
    //  durability, but only once that marking record (seq 6) is durable.
    uint64_t from = 0, to = 1;
    assert_true(kp_mirror_mark(mirror, &from, &to));
    assert_int_equal(from, 1);
    assert_int_equal(to, 0);
    assert_false(kp_mirror_mark(mirror, &from, &to));
    assert_int_equal(kp_mirror_local_from(mirror), 1);
    kp_mirror_quorum(mirror, true);
    assert_false(kp_mirror_held(mirror));
    assert_int_equal(kp_mirror_release(mirror, 5), 0);
    kp_mirror_marked(mirror, 6);
    assert_int_equal(kp_mirror_release(mirror, 5), 0);
    assert_int_equal(kp_mirror_release(mirror, 6), 6);
    assert_true(kp_mirror_degradations(mirror) >= 1);
    kp_mirror_destroy(&mirror);
    kp_test_rmtree(dir);
}

//  Feeds a LOG_MIRROR record (from, to) at seq, or a plain record when
//  both are 0.
static void s_feed(kp_localonly_t *local, uint64_t seq, uint64_t from, uint64_t to)
{
    Kp__LogRecord record = KP__LOG_RECORD__INIT;
    if (from || to)
        kp_localonly_marker(&record, from, to);
    kp_localonly_record(local, &record, seq);
}

//  Degraded at 10 (marker 12), caught up at 20 (marker 21): 10-20 local.
//  Degraded again at 30 (marker 31) and died: open until the first
//  catch-up after the restart (marker 40, to 39), which closes it.
//  Then degraded at 50, still open at the log's end (55).
static void test_local_only_ranges(void **state)
{
    (void)state;
    kp_localonly_t *local = kp_localonly_new();
    for (uint64_t seq = 1; seq <= 55; seq++) {
        if (seq == 12)
            s_feed(local, seq, 10, 0);
        else if (seq == 21)
            s_feed(local, seq, 10, 20);
        else if (seq == 31)
            s_feed(local, seq, 30, 0);
        else if (seq == 40)
            s_feed(local, seq, 0, 39);
        else if (seq == 51)
            s_feed(local, seq, 50, 0);
        else
            s_feed(local, seq, 0, 0);
        if (seq == 45)
            assert_false(kp_localonly_open(local));
    }
    assert_false(kp_localonly_has(local, 9));
    assert_true(kp_localonly_has(local, 10));
    assert_true(kp_localonly_has(local, 20));
    assert_false(kp_localonly_has(local, 21));
    assert_true(kp_localonly_has(local, 35));
    assert_false(kp_localonly_has(local, 40));
    assert_true(kp_localonly_has(local, 55));
    assert_true(kp_localonly_open(local));
    assert_int_equal(kp_localonly_count(local), 11 + 10 + 6);
    char text[128];
    kp_localonly_text(local, text, sizeof text);
    assert_string_equal(text, "10-20, 30-39, 50- (open)");
    kp_localonly_destroy(&local);
    //  A catch-up whose opening was pruned still names its range.
    local = kp_localonly_new();
    s_feed(local, 100, 0, 0);
    s_feed(local, 101, 90, 99);
    assert_true(kp_localonly_has(local, 95));
    assert_false(kp_localonly_has(local, 100));
    kp_localonly_destroy(&local);
}

int main(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_degraded_only_with_a_majority),
        cmocka_unit_test(test_local_only_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
