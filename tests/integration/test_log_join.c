/*  test_log_join.c - kpctl log joins a call's DECISION and OUTCOME records.

    Writes small logs with the library (a decision with its outcome, a
    decision whose outcome never came, a refusal's one COMPLETE record),
    then reads them with the real kpctl: query and stats show one line per
    message and "outcome unknown" for the lone decision; verify counts it
    and fails on an outcome whose decision is missing.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "privlog.h"
#include "tmpdir.h"

#define PERSON "85073003328"

static uint64_t s_append(kp_privlog_t *log, const char *id, Kp__LogKind kind, Kp__Status status,
                         uint64_t decision_seq)
{
    Kp__LogRecord r = KP__LOG_RECORD__INIT;
    Kp__LogPart part = KP__LOG_PART__INIT;
    Kp__LogPart *parts[] = {&part};
    r.request_id = (char *)id;
    r.has_time_unix_us = true;
    r.time_unix_us = 1764460800000000ull; //  2025-11-30
    r.person = PERSON;
    r.message = "A1";
    r.sender_kbo = "0206731645";
    r.has_kind = true;
    r.kind = kind;
    r.has_status = true;
    r.status = status;
    part.kbo = "0411702543";
    if (kind == KP__LOG_KIND__LOG_OUTCOME) {
        r.has_decision_seq = true;
        r.decision_seq = decision_seq;
        part.has_status = true;
        part.status = status;
    }
    r.n_parts = kind == KP__LOG_KIND__LOG_COMPLETE ? 0 : 1;
    r.parts = parts;
    uint64_t seq = kp_privlog_append(log, &r);
    assert_true(seq > 0);
    return seq;
}

//  Runs kpctl ARGS on the log in dir; returns its JSON output (decref it)
//  and its exit status.
static json_t *s_kpctl(const char *dir, const char *args, int *status)
{
    json_t *doc = harness_kpctl_log(dir, args, status);
    if (!doc)
        fail_msg("kpctl log %s: no JSON", args);
    return doc;
}

//  An OUTCOME that repeats none of its decision's keys (no person, message
//  or sender): the index finds it through its decision alone.
static uint64_t s_append_slim_outcome(kp_privlog_t *log, const char *id, uint64_t decision_seq)
{
    Kp__LogRecord r = KP__LOG_RECORD__INIT;
    Kp__LogPart part = KP__LOG_PART__INIT;
    Kp__LogPart *parts[] = {&part};
    r.request_id = (char *)id;
    r.has_time_unix_us = true;
    r.time_unix_us = 1764460800000000ull + 5000000ull;
    r.has_kind = true;
    r.kind = KP__LOG_KIND__LOG_OUTCOME;
    r.has_decision_seq = true;
    r.decision_seq = decision_seq;
    r.has_status = true;
    r.status = KP__STATUS__TIMEOUT;
    part.kbo = "0411702543";
    part.has_status = true;
    part.status = KP__STATUS__TIMEOUT;
    r.n_parts = 1;
    r.parts = parts;
    uint64_t seq = kp_privlog_append(log, &r);
    assert_true(seq > 0);
    return seq;
}

static void test_join(void **state)
{
    (void)state;
    char dir[256], error[256];
    assert_int_equal(kp_test_tmpdir(dir, sizeof dir, "kp-log-join"), 0);
    kp_privlog_options_t options;
    kp_privlog_options_default(&options);
    kp_privlog_t *log = kp_privlog_open(dir, &options, NULL, error, sizeof error);
    assert_non_null(log);
    uint64_t a = s_append(log, "call-a", KP__LOG_KIND__LOG_DECISION, KP__STATUS__OK, 0);
    s_append(log, "call-b", KP__LOG_KIND__LOG_DECISION, KP__STATUS__OK, 0);
    s_append(log, "call-a", KP__LOG_KIND__LOG_OUTCOME, KP__STATUS__PARTIAL, a);
    s_append(log, "call-c", KP__LOG_KIND__LOG_COMPLETE, KP__STATUS__DENIED, 0);
    uint64_t d = s_append(log, "call-d", KP__LOG_KIND__LOG_DECISION, KP__STATUS__OK, 0);
    s_append_slim_outcome(log, "call-d", d);
    assert_int_equal(kp_privlog_commit(log), 0);
    kp_privlog_destroy(&log);

    int status;
    json_t *q = s_kpctl(dir, "query --person " PERSON, &status);
    assert_int_equal(status, 0);
    assert_int_equal(json_integer_value(json_object_get(q, "count")), 4);
    assert_int_equal(json_integer_value(json_object_get(q, "outcome_unknown")), 1);
    const char *want[][2] = {{"call-a", "PARTIAL"},
                             {"call-b", "outcome unknown"},
                             {"call-c", "DENIED"},
                             {"call-d", "TIMEOUT"}};
    for (size_t i = 0; i < 4; i++) {
        json_t *r = json_array_get(json_object_get(q, "records"), i);
        assert_string_equal(json_string_value(json_object_get(r, "request_id")), want[i][0]);
        assert_string_equal(json_string_value(json_object_get(r, "status")), want[i][1]);
    }
    json_decref(q);

    json_t *st = s_kpctl(dir, "stats", &status);
    assert_int_equal(status, 0);
    assert_int_equal(json_integer_value(json_object_get(st, "records")), 4); //  messages
    assert_int_equal(json_integer_value(json_object_get(st, "outcome_unknown")), 1);
    json_decref(st);

    json_t *v = s_kpctl(dir, "verify", &status);
    assert_int_equal(status, 0);
    assert_true(json_is_true(json_object_get(v, "ok")));
    assert_int_equal(json_integer_value(json_object_get(v, "outcome_unknown")), 1);
    json_decref(v);
    kp_test_rmtree(dir);
}

//  An outcome whose decision is not in the log: verify names it.
static void test_orphan_outcome(void **state)
{
    (void)state;
    char dir[256], error[256];
    assert_int_equal(kp_test_tmpdir(dir, sizeof dir, "kp-log-orphan"), 0);
    kp_privlog_t *log = kp_privlog_open(dir, NULL, NULL, error, sizeof error);
    assert_non_null(log);
    uint64_t c = s_append(log, "call-c", KP__LOG_KIND__LOG_COMPLETE, KP__STATUS__DENIED, 0);
    s_append(log, "call-x", KP__LOG_KIND__LOG_OUTCOME, KP__STATUS__OK, c);
    assert_int_equal(kp_privlog_commit(log), 0);
    kp_privlog_destroy(&log);
    int status;
    json_t *v = s_kpctl(dir, "verify", &status);
    assert_int_equal(status, 1);
    assert_false(json_is_true(json_object_get(v, "ok")));
    assert_string_equal(json_string_value(json_object_get(v, "problem")), "orphan outcome");
    json_decref(v);
    kp_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_orphan_outcome),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
