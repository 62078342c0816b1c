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
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "localonly.h"
#include "mirror.h"
#include "privlog.h"
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

#define S_DAY_US 86400000000ull

//  n records a day for days days from day 20000, one segment a day.
static void s_old_log(const char *dir, unsigned days, unsigned n)
{
    kp_privlog_options_t opt;
    kp_privlog_options_default(&opt);
    opt.index_map_size = 16u << 20;
    char error[256];
    kp_privlog_t *log = kp_privlog_open(dir, &opt, NULL, error, sizeof error);
    assert_non_null(log);
    for (unsigned i = 0; i < days * n; i++) {
        Kp__LogRecord r = KP__LOG_RECORD__INIT;
        char id[32];
        snprintf(id, sizeof id, "req-%u", i);
        r.request_id = id;
        r.has_time_unix_us = true;
        r.time_unix_us = (20000 + i / n) * S_DAY_US + i % n;
        r.message = "A1";
        assert_int_equal(kp_privlog_append(log, &r), i + 1);
        if ((i + 1) % 10 == 0) //  a new day's segment starts at a commit
            assert_int_equal(kp_privlog_commit(log), 0);
    }
    kp_privlog_destroy(&log);
}

static int s_segments(const char *dir)
{
    kp_privlog_segment_t *list = NULL;
    char error[256];
    int n = kp_privlog_segments(dir, &list, error, sizeof error);
    free(list);
    return n;
}

//  Waits until the copy in dir has segments segments and verifies from
//  an anchor at first_seq - 1 with records records.
static void s_wait_pruned(const char *dir, int segments, uint64_t first_seq, uint64_t records)
{
    kp_privlog_verify_t v = {.records = 0};
    char error[256];
    char anchor[600];
    snprintf(anchor, sizeof anchor, "%s/anchor", dir);
    int64_t until = zclock_mono() + 10000;
    while (zclock_mono() < until) {
        struct stat st;
        //  (the test's log is not signed: verify's "anchored" means signed)
        if (s_segments(dir) == segments && stat(anchor, &st) == 0 &&
            kp_privlog_verify(dir, INT32_MIN, INT32_MAX, NULL, &v, error, sizeof error) == 0 &&
            v.first_seq == first_seq && v.records == records)
            return;
        zclock_sleep(20); //  polling the keeper's files
    }
    fail_msg("the copy %s was not pruned: %d segments, anchor %s, seq %llu.., %llu records; "
             "%s %s",
             dir, s_segments(dir), access(anchor, F_OK) ? "absent" : "there",
             (unsigned long long)v.first_seq, (unsigned long long)v.records, v.problem, v.detail);
}

//  Waits until the shipper says the copy holds seq.
static void s_wait_acked(kp_mirror_t *mirror, uint64_t seq)
{
    int64_t until = zclock_mono() + 10000;
    while (kp_mirror_acked(mirror) < seq && zclock_mono() < until) {
        zpoller_t *poller = zpoller_new(kp_mirror_sock(mirror), NULL);
        zpoller_wait(poller, 50);
        zpoller_destroy(&poller);
        kp_mirror_recv(mirror);
    }
    assert_int_equal(kp_mirror_acked(mirror), seq);
}

//  kpctl log prune on a shipped log: the keeper prunes its copy the same
//  way (the anchor shipped), and the copy verifies from it. A copy made
//  after the prune starts at the log's first remaining segment and gets
//  the anchor too; one whose keeper was away during the prune (it ends
//  before the anchor) drops what it held and continues from the anchor.
static void test_prune_shipped(void **state)
{
    (void)state;
    char dir[256], log[300], kept[300], late[300], copy[400], late_copy[400];
    assert_int_equal(kp_test_tmpdir(dir, sizeof dir, "kp-mirror-prune"), 0);
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(kept, sizeof kept, "%s/kept", dir);
    snprintf(late, sizeof late, "%s/late", dir);
    snprintf(copy, sizeof copy, "%s/node-1", kept);
    snprintf(late_copy, sizeof late_copy, "%s/node-1", late);
    s_old_log(log, 4, 50);
    assert_int_equal(s_segments(log), 4);
    const char *names[] = {"node-1"};
    char error[256], endpoint[400], late_endpoint[400];
    snprintf(endpoint, sizeof endpoint, "ipc://%s/keeper.ipc", dir);
    snprintf(late_endpoint, sizeof late_endpoint, "ipc://%s/late.ipc", dir);
    kp_mirror_keeper_t *keeper =
        kp_mirror_keeper_new(kept, endpoint, names, NULL, 1, NULL, error, sizeof error);
    assert_non_null(keeper);
    kp_mirror_t *mirror = kp_mirror_new("node-1", log, endpoint, 5000, NULL);
    kp_mirror_durable(mirror, 200);
    s_wait_acked(mirror, 200);
    assert_int_equal(s_segments(copy), 4);
    //  A keeper that holds the first day only (then away).
    kp_mirror_keeper_t *away =
        kp_mirror_keeper_new(late, late_endpoint, names, NULL, 1, NULL, error, sizeof error);
    assert_non_null(away);
    char first[64];
    kp_privlog_segment_t *list = NULL;
    assert_int_equal(kp_privlog_segments(log, &list, error, sizeof error), 4);
    snprintf(first, sizeof first, "%s", list[0].name);
    free(list);
    assert_int_equal(mkdir(late_copy, 0700), 0);
    char command[1200];
    snprintf(command, sizeof command, "cp '%s/%s' '%s/'", log, first, late_copy);
    assert_int_equal(system(command), 0);
    kp_mirror_keeper_destroy(&away);

    int32_t today = (int32_t)(zclock_time() / 86400000);
    assert_int_equal(kp_privlog_prune(log, 20002, 30, today, error, sizeof error), 2);
    s_wait_pruned(copy, 2, 101, 100);

    //  The keeper that was away: it ends at seq 50, before the anchor.
    away = kp_mirror_keeper_new(late, late_endpoint, names, NULL, 1, NULL, error, sizeof error);
    assert_non_null(away);
    kp_mirror_t *late_mirror = kp_mirror_new("node-1", log, late_endpoint, 5000, NULL);
    kp_mirror_durable(late_mirror, 200);
    s_wait_acked(late_mirror, 200);
    s_wait_pruned(late_copy, 2, 101, 100);
    kp_mirror_destroy(&late_mirror);
    kp_mirror_keeper_destroy(&away);

    //  A new copy after the prune.
    kp_test_rmtree(late);
    away = kp_mirror_keeper_new(late, late_endpoint, names, NULL, 1, NULL, error, sizeof error);
    late_mirror = kp_mirror_new("node-1", log, late_endpoint, 5000, NULL);
    kp_mirror_durable(late_mirror, 200);
    s_wait_acked(late_mirror, 200);
    s_wait_pruned(late_copy, 2, 101, 100);
    kp_mirror_destroy(&late_mirror);
    kp_mirror_keeper_destroy(&away);

    kp_mirror_destroy(&mirror);
    kp_mirror_keeper_destroy(&keeper);
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
        cmocka_unit_test(test_prune_shipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
