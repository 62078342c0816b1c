/*  test_log_hooks.c - the logged path's ordering and a full disk, through
    the privacy log's test hooks (meson option test_hooks) on a real node.

    - A slow fdatasync (KP_TEST_SYNC_DELAY_MS): the call's DECISION record
      starts its way to disk before the provider answers (the providers
      work while it syncs), and no answer reaches the client before the
      sync that makes it durable has completed.
    - A full disk (KP_TEST_WRITE_FAIL names a file; while it exists the
      log's writes fail with ENOSPC): calls are answered UNAVAILABLE /
      LOG_UNAVAILABLE at once, the node keeps running and says so in its
      status, and answers as before once the space is back; the log then
      verifies, and holds the decision of the call that was refused.
*/
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "privlog.h"

static const char *s_self;

//  Starts the node (with the environment the caller set), loads its
//  directory and one provider worker that answers after delay_ms.
static void s_start(harness_t *harness, int delay_ms, char *worker_log, size_t log_size)
{
    harness_start_node(harness, 0);
    harness_load(harness, 0, harness_a1_directory);
    char delay[16];
    snprintf(delay, sizeof delay, "%d", delay_ms);
    snprintf(worker_log, log_size, "%s/served.log", harness->dir);
    char *argv[] = {
        (char *)s_self, "--worker", harness->worker[0], HARNESS_PROVIDER, delay, worker_log,
        "A1",           NULL};
    harness_spawn(harness, argv);
    if (!harness_wait_workers(harness, 0, 1))
        fail_msg("the provider worker never registered");
}

static Kp__Response *s_call(harness_t *harness, const char *id)
{
    Kp__Request request = harness_a1_request(id);
    zsock_t *client = harness_client_as(harness, 0, "app-rsz-app");
    Kp__Response *response = harness_call(client, &request, 5000);
    zsock_destroy(&client);
    assert_non_null(response);
    return response;
}

//  The time the worker's log gives for id's answer, or -1.
static int64_t s_served_at(const char *log, const char *id)
{
    FILE *file = fopen(log, "r");
    if (!file)
        return -1;
    char line[256], name[200];
    long long at;
    int64_t found = -1;
    while (fgets(line, sizeof line, file))
        if (sscanf(line, "%199s %lld", name, &at) == 2 && !strcmp(name, id))
            found = at;
    fclose(file);
    return found;
}

typedef struct {
    const char *id;
    Kp__LogKind kind;
    uint64_t seq;
} s_find_t;

static int s_find(const Kp__LogRecord *r, uint64_t seq, void *arg)
{
    s_find_t *find = arg;
    if (r->request_id && !strcmp(r->request_id, find->id) && r->has_kind && r->kind == find->kind)
        find->seq = seq;
    return 0;
}

static uint64_t s_scan_seq(harness_t *harness, const char *id, bool outcome)
{
    char dir[400], error[256];
    snprintf(dir, sizeof dir, "%s/node-1/log", harness->dir);
    s_find_t find = {id, outcome ? KP__LOG_KIND__LOG_OUTCOME : KP__LOG_KIND__LOG_DECISION, 0};
    assert_int_equal(kp_privlog_scan(dir, INT32_MIN, INT32_MAX, s_find, &find, error, sizeof error),
                     0);
    return find.seq;
}

static uint64_t s_decision_seq(harness_t *harness, const char *id)
{
    return s_scan_seq(harness, id, false);
}

//  The highest durable seq the sync trace shows so far.
static uint64_t s_traced_durable(const char *trace)
{
    FILE *file = fopen(trace, "r");
    unsigned long long start, end, durable, max = 0;
    while (file && fscanf(file, "%llu %llu %llu", &start, &end, &durable) == 3)
        max = durable > max ? durable : max;
    if (file)
        fclose(file);
    return max;
}

//  Waits until id's OUTCOME record is durable: the logger is idle then.
//  (Its outcome goes into the group after its decision's when the call
//  came to an idle logger, and that slow sync would hold the next call's
//  decision back.)
//  trace NULL: until it is written (then its sync cannot fail any more:
//  the write-fail hook acts on the write).
static void s_wait_outcome_durable(harness_t *harness, const char *trace, const char *id)
{
    int64_t until = zclock_mono() + 10000;
    uint64_t seq = 0;
    while (zclock_mono() < until) {
        if (!seq)
            seq = s_scan_seq(harness, id, true);
        if (seq && (!trace || s_traced_durable(trace) >= seq))
            return;
        zclock_sleep(20);
    }
    fail_msg("the OUTCOME of %s (seq %llu) was not durable within 10 s", id,
             (unsigned long long)seq);
}

static void test_answer_waits_for_the_decision_sync(void **state)
{
    (void)state;
    harness_t *harness = harness_new(1, 100, 5000, 65536);
    char trace[400], worker_log[400];
    snprintf(trace, sizeof trace, "%s/sync-trace", harness->dir);
    setenv("KP_TEST_SYNC_DELAY_MS", "300", 1);
    setenv("KP_TEST_SYNC_TRACE", trace, 1);
    s_start(harness, 50, worker_log, sizeof worker_log);
    unsetenv("KP_TEST_SYNC_DELAY_MS");
    unsetenv("KP_TEST_SYNC_TRACE");
    //  A first call waits out the slow sync of the operator's load (an
    //  admin command is a log record too), and then its own outcome's,
    //  so that the logger is idle when the measured call comes.
    Kp__Response *warm = s_call(harness, "order-0");
    kp__response__free_unpacked(warm, NULL);
    s_wait_outcome_durable(harness, trace, "order-0");

    Kp__Response *response = s_call(harness, "order-1");
    int64_t answered_us = zclock_usecs();
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);
    int64_t served_us = s_served_at(worker_log, "order-1");
    assert_true(served_us > 0);

    //  The sync that made the call's decision durable.
    uint64_t seq = s_decision_seq(harness, "order-1");
    assert_true(seq > 0);
    FILE *file = fopen(trace, "r");
    assert_non_null(file);
    unsigned long long start = 0, end = 0, durable = 0;
    while (fscanf(file, "%llu %llu %llu", &start, &end, &durable) == 3 && durable < seq)
        ;
    fclose(file);
    if (durable < seq)
        fail_msg("no sync in the trace covers seq %llu", (unsigned long long)seq);
    assert_true(end - start >= 300000); //  the hook slowed it
    //  Write ahead: the record was on its way to disk before the provider
    //  (50 ms of work) had answered; and the answer waited for the sync.
    if ((int64_t)start >= served_us)
        fail_msg("the decision's sync started at %llu, after the provider answered at %lld", start,
                 (long long)served_us);
    if (answered_us < (int64_t)end)
        fail_msg("the answer arrived at %lld, before its decision was durable at %llu",
                 (long long)answered_us, end);
    harness_destroy(&harness);
}

static void s_expect_log_unavailable(harness_t *harness, const char *id)
{
    Kp__Response *response = s_call(harness, id);
    if (response->status != KP__STATUS__UNAVAILABLE ||
        response->reason != KP__REASON__LOG_UNAVAILABLE)
        fail_msg("%s: status %d reason %d, wanted UNAVAILABLE / LOG_UNAVAILABLE", id,
                 response->status, response->reason);
    kp__response__free_unpacked(response, NULL);
}

static void test_full_disk_is_an_answer(void **state)
{
    (void)state;
    harness_t *harness = harness_new(1, 100, 5000, 65536);
    char full[400], worker_log[400];
    snprintf(full, sizeof full, "%s/disk-full", harness->dir);
    //  Any disk has less free space than this: the alarm is up from the start.
    harness_cluster_line(harness, "log-free-warn-mb = 4294967295");
    setenv("KP_TEST_WRITE_FAIL", full, 1);
    s_start(harness, 0, worker_log, sizeof worker_log);
    unsetenv("KP_TEST_WRITE_FAIL");
    assert_true(harness_wait_count(harness, 0, "log_space_low", 1, 5000));

    Kp__Response *response = s_call(harness, "full-0");
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);
    //  Its OUTCOME follows the answer by up to 10 ms: written before the
    //  disk fills, else the log is unavailable before full-1 comes, and
    //  full-1 is refused without a decision.
    s_wait_outcome_durable(harness, NULL, "full-0");

    FILE *flag = fopen(full, "w"); //  the disk is full
    assert_non_null(flag);
    fclose(flag);
    s_expect_log_unavailable(harness, "full-1"); //  its decision cannot be written
    assert_true(harness_wait_count(harness, 0, "log_unavailable", 1, 5000));
    s_expect_log_unavailable(harness, "full-2");    //  refused at once
    assert_int_equal(kill(harness->node[0], 0), 0); //  the node runs on

    unlink(full); //  space again: the node resumes by itself
    assert_true(harness_wait_count(harness, 0, "log_ok", 1, 5000));
    response = s_call(harness, "full-3");
    assert_int_equal(response->status, KP__STATUS__OK);
    kp__response__free_unpacked(response, NULL);

    //  What waited in memory was written when space came back.
    assert_true(s_decision_seq(harness, "full-1") > 0);
    int status = harness_stop_node(harness, 0, SIGTERM);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char dir[400], error[256];
    snprintf(dir, sizeof dir, "%s/node-1/log", harness->dir);
    kp_privlog_verify_t result;
    assert_int_equal(
        kp_privlog_verify(dir, INT32_MIN, INT32_MAX, NULL, &result, error, sizeof error), 0);
    harness_destroy(&harness);
}

int main(int argc, char **argv)
{
    s_self = argv[0];
    int rc = harness_main(argc, argv);
    if (rc >= 0)
        return rc;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_waits_for_the_decision_sync),
        cmocka_unit_test(test_full_disk_is_an_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
